"""The rule registry: rule key in the config -> module.

Each module has ``NAME``, ``OPTIONS`` (schema data), a docstring that is its user
documentation, and ``build(options, ctx, path) -> Rule``.  Order here is the order
``postrender init`` and the README list them in.
"""

from __future__ import annotations

from . import image_pull_policy
from . import patch

REGISTRY = {
    image_pull_policy.NAME: image_pull_policy,
    patch.NAME: patch,
}
