"""The rule registry: rule key in the config -> module.

Each module has ``NAME``, ``OPTIONS`` (schema data), a docstring that is its user
documentation, and ``build(options, ctx, path) -> Rule``.  Order here is the order
``postrender init`` and the README list them in.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

# Rule key -> module name.  Modules are imported when a config uses the rule: Helm starts
# postrender once per render, and importing every rule (patching, pull secrets) cost ~15 ms.
_MODULES = {
    "imagePullPolicy": "image_pull_policy",
    "imagePullSecrets": "image_pull_secrets",
    "pullSecret": "pull_secret",
    "resources": "resources",
    "pullSecretReferences": "pull_secret_references",
    "registryRewrite": "registry_rewrite",
    "images": "images",
    "allowedRegistries": "allowed_registries",
    "pinDigests": "pin_digests",
    "patch": "patch",
}


class _Registry(Mapping):
    def __getitem__(self, name: str):
        module = importlib.import_module(f"{__name__}.{_MODULES[name]}")
        return module

    def __iter__(self):
        return iter(_MODULES)

    def __len__(self) -> int:
        return len(_MODULES)


REGISTRY = _Registry()
