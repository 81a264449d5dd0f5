"""kustomize's exec plugin call names a temporary copy of the config: find the user's file.

kustomize runs a legacy exec plugin as ``PostRenderer /tmp/kust-plugin-config-NNN [args]``
(api/internal/plugins/execplugin/execplugin.go): the file is the transformer config
re-serialised (comments and key order gone, quoting changed) and deleted right after the run.
Errors that point at it ("/tmp/kust-plugin-config-123:7:5") name a file the user never wrote and
cannot open, and template paths in it resolve against /tmp.  kustomize also sets
``KUSTOMIZE_PLUGIN_CONFIG_ROOT`` to the directory of the kustomization that lists the
transformer, so the user's file is one of that kustomization's ``transformers:`` entries: the
one that holds the same config (same data, read the way postrender reads configs).  When it is
found, postrender reads it instead of the copy; otherwise the copy, as before.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_ROOT = "KUSTOMIZE_PLUGIN_CONFIG_ROOT"
TEMP_PREFIX = "kust-plugin-config-"
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# Annotations kustomize may add to a config object it hands over; they are not the user's.
_KUSTOMIZE_ANNOTATION_PREFIXES = ("config.kubernetes.io/", "internal.config.kubernetes.io/", "kustomize.config.k8s.io/")


def user_config(path: str, environ=None) -> str:
    """The user's config file for the path kustomize passed, or path itself."""
    env = os.environ if environ is None else environ
    root = env.get(ENV_ROOT)
    if not root or not os.path.basename(path).startswith(TEMP_PREFIX):
        return path
    try:
        found = _find(Path(path), Path(root))
    except Exception:  # anything odd about the kustomization: the copy still works
        return path
    return str(found) if found is not None else path


def _find(copy: Path, root: Path) -> Path | None:
    import yaml

    wanted = _data(copy.read_text(encoding="utf-8"))
    if not isinstance(wanted, dict):
        return None
    for name in KUSTOMIZATION_FILES:
        kustomization = root / name
        if kustomization.is_file():
            break
    else:
        return None
    entries = (yaml.safe_load(kustomization.read_text(encoding="utf-8")) or {}).get("transformers") or []
    found = []
    for entry in entries:
        if not isinstance(entry, str) or "\n" in entry:
            continue  # an inline transformer config has no file to name
        candidate = (root / entry)
        if candidate.is_file() and candidate.stat().st_size < 4 << 20:
            try:
                if _data(candidate.read_text(encoding="utf-8")) == wanted:
                    found.append(candidate)
            except Exception:
                continue
    return found[0] if len(found) == 1 else None


def _data(text: str):
    """The config's data as postrender's loader reads it (YAML 1.1 plain scalars, like Kubernetes),
    without the annotations kustomize adds; None for a multi-document file."""
    from postrender.config.loader import _compose

    data = _compose(text, "kustomize").data
    if isinstance(data, dict):
        meta = data.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("annotations"), dict):
            kept = {k: v for k, v in meta["annotations"].items()
                    if not str(k).startswith(_KUSTOMIZE_ANNOTATION_PREFIXES)}
            meta = dict(meta, annotations=kept) if kept else {k: v for k, v in meta.items() if k != "annotations"}
            data = dict(data, metadata=meta)
    return data
