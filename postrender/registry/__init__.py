"""An OCI distribution client for ``postrender lock`` and ``postrender mirror`` (issue 17).

Nothing here is imported on the ``run`` path: the ``pinDigests`` rule reads a lock file offline,
and only the two commands talk to registries.  The modules, bottom up:

* :mod:`.media`: manifest media types, digests, platforms (pure data);
* :mod:`.auth`: where credentials come from (Docker config ``auths``, ``credHelpers``/
  ``credsStore`` helpers, the config's pull-secret variables) and the ``WWW-Authenticate``
  challenge/token flow;
* :mod:`.client`: HTTP to registries (scheme and TLS policy, retries honouring ``Retry-After``,
  manifests and blobs, cross-repository mounts);
* :mod:`.lockfile`: the lock file (postrender's format and kbld's), read by ``pinDigests``;
* :mod:`.plan`: which images, paired by location across two runs of the config's rules;
* :mod:`.lock` and :mod:`.mirror`: the two commands.

Why a small client on httpx instead of a registry library (oras 0.2, python-dxf 12) is written
down in the commit that added it and in docs/images.md ("Offline workflow").
"""
