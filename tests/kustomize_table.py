"""The ported kustomize test cases (tests/kustomize_cases/*.yaml): loading, running, comparing.

Each file holds the cases translated from one kustomize v5.7.1 test file (``source:``).  A case:

``name``         the Go test (and sub-test) it comes from
``area``         images | strategicMerge | json6902 | selector | patch (errors and mixed)
``files``        the test's files as kustomize reads them (kustomization.yaml, patches, resources);
                 written into one directory with ``input.yaml`` (= ``input``) and postrender.yaml
``run``          the directory ``kubectl kustomize`` builds (default ``.``)
``input``        the stream postrender reads: the resources before the transformation
``config``       the postrender config (``rules:``, optional ``imageFields``/``podSpecPaths``);
                 apiVersion/kind are added.  ``path:`` patches name files of ``files``
``expected``     kustomize's expected output, from the Go test; or
``error``        a substring (or list of alternatives) of kustomize's error
``deviation``    a key of :data:`DEVIATIONS`: postrender differs from kustomize on purpose; then
                 ``postrender_expected`` (or ``postrender_error``) is what postrender gives
``postrender_error``  for an ``error`` case: a substring of postrender's message (optional)
``unsupported``  why postrender cannot express the case (not run through postrender)
``kustomize``    ``false`` when the case cannot run under ``kubectl kustomize`` (a Go-level
                 filter with no kustomization equivalent), with ``why``
``note``         how the translation differs from the Go test's setup, where it does
``pending``      the issue whose change this case waits for (the test expects it to fail)

Output is compared as data read the way Kubernetes reads it, documents as a multiset (kustomize
sorts resources, postrender keeps the stream's order), list order significant.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from postrender.config.loader import load_config_text
from postrender.engine.stream import parse_stream
from postrender.errors import PostrenderError
from postrender.pipeline import run_stream

CASES_DIR = Path(__file__).resolve().parent / "kustomize_cases"
HEADER = {"apiVersion": "postrender/v1alpha1", "kind": "PostRenderer"}
AREAS = ("images", "strategicMerge", "json6902", "selector", "patch")

# Deliberate differences from kustomize 5.7.1; each is a row of the deviation tables in
# docs/patches.md or docs/images.md (checked by test_deviations_are_documented).
DEVIATIONS = {
    "order": "kustomize moves the list items a patch mentions to the front of merge-key lists; "
             "postrender keeps original items where they are and appends new ones (minimal text edits)",
    "directive-literal": "kustomize copies $retainKeys/$deleteFromPrimitiveList into its output as keys, keeps $patch "
                         "items inside lists it replaces and ignores an item-level $patch: replace; postrender applies "
                         "them as the API server does",
    "duplicate-keys": "kustomize drops list items whose merge keys repeat (two ports 8080/TCP with different "
                      "names) even when the patch does not touch the list; postrender keeps every item",
    "port-protocol": "kustomize silently drops a patch port whose protocol is given on one side only (a Service "
                     "patch `port: 80, targetPort: 9999` for a port with `protocol: TCP`); postrender merges a patch "
                     "port without protocol into the port of that number, and reads an original port without "
                     "protocol as TCP",
    "metadata-nulls": "with a target (and in patchesStrategicMerge) kustomize writes a null label or annotation of the "
                      "patch as the string \"null\" and ignores `labels: null`; postrender deletes them, as kustomize "
                      "does for a patch without target",
    "no-apiversion": "kustomize reads a document without apiVersion (`kind: randomKind`); postrender refuses it "
                     "(exit 3): it is not a Kubernetes manifest",
    "empty-null": "kustomize drops map fields written with no value (`key:`) wherever a strategic-merge patch "
                  "walks; postrender leaves fields the patch does not name (a null field and an absent one mean "
                  "the same to the API server)",
    "empty-output": "a patch that deletes every resource: kustomize writes an empty stream, postrender refuses "
                    "(Helm 4 rejects empty post-renderer output)",
    "multi-doc-json6902": "a JSON6902 patch text with several YAML documents: kustomize silently applies only the "
                          "first (its issue 5049), postrender refuses it",
    "name-references": "kustomize's name-reference fix-up: after a patch renames a resource it renames the "
                       "references to it, and a reference a patch adds to a generated ConfigMap becomes its hashed "
                       "name; postrender writes what the patch says",
}


@dataclass
class Case:
    file: str      # the case file's stem: filters_imagetag, builtin_PatchTransformer, ...
    source: str
    name: str
    area: str
    files: dict = field(default_factory=dict)
    run: str = "."
    input: str = ""
    config: dict | None = None
    expected: str | None = None
    error: str | list | None = None
    deviation: str | None = None
    postrender_expected: str | None = None
    postrender_error: str | None = None
    unsupported: str | None = None
    kustomize: bool = True
    why: str | None = None
    note: str | None = None
    pending: str | None = None

    @property
    def id(self) -> str:
        return f"{self.file}/{self.name}"

    @property
    def errors(self) -> list[str]:
        if self.error is None:
            return []
        return [self.error] if isinstance(self.error, str) else list(self.error)


def load_cases() -> list[Case]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text())
        for raw in data["cases"]:
            cases.append(Case(file=path.stem, source=data["source"], **raw))
    return cases


def write_files(case: Case, directory: Path) -> None:
    for rel, text in case.files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (directory / "input.yaml").write_text(case.input)


def documents(text: str | bytes) -> list:
    """The documents of a stream as Kubernetes reads them (null documents dropped)."""
    data = text.encode() if isinstance(text, str) else text
    out = []
    for doc in parse_stream(data).yaml_documents():
        if doc.obj is not None:
            out.append(doc.obj)
    return out


def canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str)


def as_multiset(docs: list) -> list[str]:
    return sorted(canonical(d) for d in docs)


def lists_sorted(obj):
    """Every list sorted by the canonical text of its items (for the `order` deviation)."""
    if isinstance(obj, dict):
        return {k: lists_sorted(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return sorted((lists_sorted(v) for v in obj), key=canonical)
    return obj


@dataclass
class Outcome:
    docs: list | None = None
    error: str | None = None
    exit_code: int = 0


def run_postrender(case: Case, directory: Path) -> Outcome:
    write_files(case, directory)
    config = dict(HEADER)
    config.update(case.config or {})
    text = yaml.safe_dump(config, sort_keys=False)
    (directory / "postrender.yaml").write_text(text)
    try:
        cfg = load_config_text(text, str(directory / "postrender.yaml"), base_dir=directory)
        result = run_stream(cfg, case.input.encode())
    except PostrenderError as exc:
        return Outcome(error=exc.message, exit_code=exc.exit_code)
    return Outcome(docs=documents(result.output))


def run_kustomize(case: Case, directory: Path, kubectl: Path) -> Outcome:
    write_files(case, directory)
    proc = subprocess.run([str(kubectl), "kustomize", str(directory / case.run)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        return Outcome(error=proc.stderr.strip(), exit_code=proc.returncode)
    return Outcome(docs=documents(proc.stdout))


def same(got: list, want: list) -> bool:
    return as_multiset(got) == as_multiset(want)


def diff_text(got: list, want: list) -> str:
    g, w = as_multiset(got), as_multiset(want)
    lines = []
    for x in w:
        if x not in g:
            lines.append(f"  missing: {x}")
    for x in g:
        if x not in w:
            lines.append(f"  extra:   {x}")
    return "\n".join(lines)


# ---- the end-of-run report (tests/conftest.py's pytest_terminal_summary calls report()) --------

RESULTS: dict[str, dict[str, str]] = {"postrender": {}, "kustomize": {}}  # case id -> outcome


def record(side: str, case: Case, outcome: str) -> None:
    RESULTS[side][case.id] = outcome


def report(write) -> None:
    """Per area: how many cases give kustomize's result, are listed deviations, cannot be
    expressed, or fail; and how many the real kubectl kustomize confirmed."""
    if not any(RESULTS.values()):
        return
    cases = {c.id: c for c in load_cases()}
    rows: dict[str, dict[str, int]] = {}
    for case in cases.values():
        row = rows.setdefault(case.area, {"cases": 0, "pass": 0, "deviation": 0, "unsupported": 0,
                                          "pending": 0, "fail": 0, "kustomize-ok": 0, "kustomize-fail": 0})
        row["cases"] += 1
        if case.unsupported:
            row["unsupported"] += 1
        outcome = RESULTS["postrender"].get(case.id)
        if outcome in ("pass", "deviation", "pending", "fail"):
            row[outcome] += 1
        k = RESULTS["kustomize"].get(case.id)
        if k in ("ok", "fail"):
            row[f"kustomize-{k}"] += 1
    write("kustomize 5.7.1 test cases (tests/kustomize_cases):")
    cols = ["cases", "pass", "deviation", "unsupported", "pending", "fail", "kustomize-ok", "kustomize-fail"]
    write(f"  {'area':<15}" + "".join(f"{c:>15}" for c in cols))
    total = dict.fromkeys(cols, 0)
    for area in sorted(rows):
        write(f"  {area:<15}" + "".join(f"{rows[area][c]:>15}" for c in cols))
        for c in cols:
            total[c] += rows[area][c]
    write(f"  {'total':<15}" + "".join(f"{total[c]:>15}" for c in cols))
