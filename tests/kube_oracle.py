"""Kubernetes as the judge: what kubectl reads from manifest files, next to what postrender reads.

``kubectl annotate --local -f DIR KEY- -o json`` decodes every file of a directory offline
exactly as ``kubectl apply`` does (sigs.k8s.io/yaml, go-yaml v2; lists flattened), removes an
annotation nobody sets, and prints each object as JSON; a file it cannot read is a line naming
the file on stderr (``error parsing FILE: ...``), and the other files go on.  Many inputs are read in
one kubectl call (a process start costs ~60 ms), so differential tests can run tens of
thousands of streams.

Removing an annotation leaves ``metadata.annotations`` present (``{}`` when there were none), so
both sides are compared through :func:`kubectl_view`.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from postrender.engine import kube_yaml
from postrender.engine.stream import parse_stream
from postrender.errors import PostrenderError

ORACLE_ANNOTATION = "postrender-oracle-unset"
_FILE_ERROR = re.compile(r"(/[^\s:]+\.yaml)\b")


def kubectl_view(obj):
    """An object as ``kubectl annotate KEY-`` prints it: metadata.annotations always present."""
    if not isinstance(obj, dict):
        return obj
    out = dict(obj)
    meta = out.get("metadata")
    meta = dict(meta) if isinstance(meta, dict) else {}
    annotations = meta.get("annotations")
    annotations = dict(annotations) if isinstance(annotations, dict) else {}
    annotations.pop(ORACLE_ANNOTATION, None)
    meta["annotations"] = annotations
    out["metadata"] = meta
    return kube_yaml.as_json_value(out)


def _annotate(kubectl: Path, target: Path) -> tuple[list[dict], str, int]:
    proc = subprocess.run(
        [str(kubectl), "annotate", "--local", "-f", str(target), f"{ORACLE_ANNOTATION}-", "-o", "json"],
        capture_output=True, text=True, timeout=600,
    )
    objects, decoder, text, pos = [], json.JSONDecoder(), proc.stdout, 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        obj, pos = decoder.raw_decode(text, pos)
        objects.append(kubectl_view(obj))
    return objects, proc.stderr, proc.returncode


def kubectl_read_dir(kubectl: Path, directory: Path) -> tuple[list[dict], dict[str, str]]:
    """(objects in file order, {file name: error}) as kubectl reads every *.yaml in directory."""
    objects, stderr, _code = _annotate(kubectl, directory)
    errors: dict[str, str] = {}
    for line in stderr.splitlines():
        m = _FILE_ERROR.search(line)
        if m:
            errors[Path(m.group(1)).name] = line
        elif line.strip():
            errors.setdefault("?", line)
    return objects, errors


def kubectl_read(kubectl: Path, path: Path) -> tuple[list[dict], str | None]:
    """(objects, error or None) as kubectl reads one file."""
    objects, stderr, code = _annotate(kubectl, path)
    return objects, (stderr.strip() or "failed") if code else None


def postrender_read_documents(data: bytes) -> list[list[dict]]:
    """Per YAML document of a stream, the objects postrender reads from it, as kubectl would
    apply them (a list's items; nothing for an empty document); raises PostrenderError where
    postrender refuses the stream."""
    out = []
    for doc in parse_stream(data).documents:
        if doc.void:
            continue
        doc.validate()
        obj = doc.obj
        items = [] if obj is None else obj.get("items") if kube_yaml.is_list(obj) else [obj]
        out.append([kubectl_view(item) for item in items or ()])
    return out


def postrender_read(data: bytes) -> list[dict]:
    """The objects postrender reads from a stream, as kubectl would apply them (lists flattened,
    empty documents skipped); raises PostrenderError where postrender refuses the stream."""
    return [obj for objects in postrender_read_documents(data) for obj in objects]


def compare_files(kubectl: Path, directory: Path, files: list[Path]) -> list[str]:
    """Disagreements between kubectl and postrender over ``files`` (all in ``directory``), as
    readable lines; empty when every file reads the same or both refuse it."""
    objects, errors = kubectl_read_dir(kubectl, directory)
    if "?" in errors:
        return [f"kubectl failed: {errors['?']}"]
    problems = []
    cursor = 0
    for path in sorted(files):
        data = path.read_bytes()
        try:
            ours = postrender_read(data)
            ours_error = None
        except PostrenderError as exc:
            ours, ours_error = [], str(exc)
        theirs_error = errors.get(path.name)
        if theirs_error is not None:
            if ours_error is None:
                problems.append(f"{path.name}: kubectl refuses it ({theirs_error}), postrender reads {len(ours)} objects")
            continue
        if ours_error is not None:
            # kubectl printed this file's objects; skip them by re-reading the file alone.
            alone, _ = kubectl_read(kubectl, path)
            cursor += len(alone)
            problems.append(f"{path.name}: postrender refuses it ({ours_error}), kubectl reads {len(alone)} objects")
            continue
        theirs = objects[cursor:cursor + len(ours)]
        cursor += len(ours)
        if theirs != ours:
            problems.append(f"{path.name}: kubectl and postrender read different data:\n"
                            f"  kubectl:    {json.dumps(theirs, sort_keys=True)[:2000]}\n"
                            f"  postrender: {json.dumps(ours, sort_keys=True)[:2000]}")
            break  # the files after it may be misaligned: report the first
    else:
        if cursor != len(objects):
            problems.append(f"kubectl read {len(objects)} objects, postrender {cursor}")
    return problems
