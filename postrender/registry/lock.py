"""``postrender lock``: resolve every image to the digest its tag points at, write the lock.

Each image is looked up where it will be pulled from (after the config's rules, rewrites
included) with ``HEAD /v2/NAME/manifests/TAG`` and the OCI index, OCI manifest and Docker
list/manifest media types, which returns ``Docker-Content-Digest`` without counting as a pull
on Docker Hub; a registry that omits the header gets a ``GET`` and the bytes are hashed.
``--verify`` always fetches the manifest and checks its bytes hash to the digest.  An image
that already carries a digest needs no entry (``pinDigests`` leaves it as written); it is
checked to exist.

Lookups run in parallel (``--jobs``); every failure is reported per image, and when any image
fails no lock is written (a partial lock would pin some images and fail the rest later).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from postrender.registry.client import Client, Repo
from postrender.registry.errors import RegistryError
from postrender.registry.lockfile import Lock, lock_key
from postrender.registry.plan import Pair, same_version
from postrender.registry.progress import Progress


@dataclass
class Outcome:
    lock: Lock
    errors: list[str]
    resolved: int
    pinned: int


def _lookup(client: Client, ref, verify: bool) -> str:
    repo = Repo.of(ref)
    reference = ref.digest or ref.tag or "latest"
    if verify or ref.digest:
        return client.get_manifest(repo, reference).digest
    found = client.head_manifest(repo, reference)
    if found is None:
        raise RegistryError(f"manifest {repo}:{reference} not found (HTTP 404); if this is a mirror, fill it"
                            " first: postrender mirror -c CONFIG")
    return found[0]


def resolve(pairs: list[Pair], client: Client, jobs: int, verify: bool = False) -> Outcome:
    errors: list[str] = []
    # One lookup per place-and-version, however many places write it.
    targets: dict[str, object] = {}
    for pair in pairs:
        first, second = pair.first_ref, pair.second_ref
        if not same_version(first, second):
            errors.append(f"{pair.first}: the rules give it tag/digest {second.suffix or ':latest'} after"
                          f" registryRewrite but {first.suffix or ':latest'} at pinDigests ({pair.places[0]});"
                          " put the images/patch rules that change tags before registryRewrite")
            continue
        targets.setdefault(str(second), second)
    progress = Progress("lock", len(targets))
    digests: dict[str, str] = {}
    failed: dict[str, str] = {}

    def one(text: str):
        try:
            digests[text] = _lookup(client, targets[text], verify)
            progress.step(True)
        except Exception as caught:  # noqa: BLE001 - narrowed by explain(): others re-raised
            exc = client.explain(caught)
            if exc is None:
                raise
            failed[text] = exc.message
            progress.step(False)

    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            list(pool.map(one, sorted(targets)))
    finally:
        progress.close()

    lock = Lock()
    by_key: dict[str, tuple[str, str]] = {}
    pinned = 0
    for pair in pairs:
        second = str(pair.second_ref)
        if second in failed:
            errors.append(f"{pair.second}: {failed.pop(second)} ({pair.places[0]})")
            continue
        if second not in digests:
            continue
        if pair.first_ref.digest is not None:
            pinned += 1  # already pinned where written: checked, nothing to record
            continue
        key = lock_key(pair.first_ref)
        digest = digests[second]
        earlier = by_key.get(key)
        if earlier is not None and earlier[1] != digest:
            errors.append(f"{pair.first}: resolves to {earlier[1]} at {earlier[0]} but to {digest} at {second};"
                          " one lock entry cannot pin both: make the rules send every copy to one registry")
            continue
        by_key[key] = (second, digest)
        lock.add(pair.first, digest)
    return Outcome(lock, errors, len(digests), pinned)
