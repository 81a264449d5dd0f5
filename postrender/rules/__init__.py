"""The rule registry: rule key in the config -> module.

Each module has ``NAME``, ``OPTIONS`` (schema data), a docstring that is its user
documentation, and ``build(options, ctx, path) -> Rule``.  Order here is the order
``postrender init`` and the README list them in.
"""

from __future__ import annotations

from . import allowed_registries, image_pull_policy, images, registry_rewrite
from . import patch
from . import image_pull_secrets, pull_secret, pull_secret_references, resources

REGISTRY = {
    image_pull_policy.NAME: image_pull_policy,
    image_pull_secrets.NAME: image_pull_secrets,
    pull_secret.NAME: pull_secret,
    resources.NAME: resources,
    pull_secret_references.NAME: pull_secret_references,
    registry_rewrite.NAME: registry_rewrite,
    images.NAME: images,
    allowed_registries.NAME: allowed_registries,
    patch.NAME: patch,
}
