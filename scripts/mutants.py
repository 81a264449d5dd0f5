#!/usr/bin/env python3
"""Mutation check: small deliberate bugs in the core modules; the tests must catch each one.

    python scripts/mutants.py [--max 40] [--seed 1] [--module engine|images|pullsecrets|redaction]...
                              [--list] [--timeout 600] [--report FILE]

Each mutant changes one thing in one function of the code that decides output meaning
(``postrender/engine``, ``postrender/images``, the pull-secret rules and ``pullsecrets.py``,
redaction): a comparison flipped (``==``/``!=``, ``<``/``<=``, ``in``/``not in``, ``is``/``is not``),
``and``/``or`` swapped, a condition negated, ``True``/``False`` swapped, an integer constant
off by one, a ``return`` value replaced by ``None``, a statement removed.  Mutants are drawn with
``--seed`` (``--max`` of them, spread over the modules), applied to a private copy of the
checkout (the working tree is never touched, so it is safe while other runs use it) and the
module's tests run against it (``-x``, no e2e, CI's bounded fuzz sizes).  The report lists every
mutant that *survived* (all its tests passed): each is either a missing test or a change that
cannot alter output (say why in the report).  Bounded: ~20-60 s per mutant on a loaded 2-core
machine, so the default 40 take 15-40 minutes; not part of CI's default run.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# module group -> (source files, the tests that guard them: fast, non-e2e)
GROUPS = {
    "engine": (["postrender/engine/kube_yaml.py", "postrender/engine/scalars.py", "postrender/engine/edit.py",
                "postrender/engine/locate.py", "postrender/engine/stream.py", "postrender/engine/document.py",
                "postrender/engine/layout.py"],
               ["tests/test_kube_yaml.py", "tests/test_scalars.py", "tests/test_stream.py", "tests/test_stream_forms.py",
                "tests/test_go_constructs.py", "tests/test_header_scan.py", "tests/test_non_manifests.py",
                "tests/test_rule_image_pull_policy.py", "tests/test_rule_patch.py", "tests/test_fuzz_regressions.py",
                "tests/test_idempotency.py", "tests/test_fuzz_streams.py"]),
    "images": (["postrender/images/reference.py", "postrender/images/discovery.py", "postrender/rules/registry_rewrite.py",
                "postrender/rules/images.py", "postrender/rules/pin_digests.py", "postrender/rules/allowed_registries.py"],
               ["tests/test_images.py", "tests/test_rule_images.py", "tests/test_rule_registry_rewrite.py",
                "tests/test_rule_allowed_registries.py", "tests/test_imagefields.py", "tests/test_images_scenarios.py",
                "tests/test_rule_pin_digests.py", "tests/test_images_corpus.py", "tests/test_fuzz_streams.py"]),
    "pullsecrets": (["postrender/pullsecrets.py", "postrender/rules/image_pull_secrets.py", "postrender/rules/pull_secret.py",
                     "postrender/rules/pull_secret_references.py", "postrender/generated.py"],
                    ["tests/test_rule_pull_secret.py", "tests/test_rule_image_pull_secrets.py",
                     "tests/test_rule_pull_secret_references.py", "tests/test_pull_secret_security.py",
                     "tests/test_pull_secrets_corpus.py", "tests/test_fuzz_streams.py"]),
    "redaction": (["postrender/engine/redaction.py", "postrender/engine/output.py"],
                  ["tests/test_redaction.py", "tests/test_secret_leaks.py", "tests/test_secret_matrix.py"]),
}
COPY = ["postrender", "tests", "snapshots", "templates", "bench", "scripts", "helm-plugin", "examples", "docs",
        "pyproject.toml", "README.md", "SECURITY.md", "CHANGELOG.md"]

_COMPARE_SWAP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE,
                 ast.GtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}


@dataclass
class Mutant:
    path: str
    line: int
    what: str
    start: int          # character offsets of the replaced text in the file
    end: int
    new: str

    def describe(self, source: str) -> str:
        old = source[self.start:self.end].replace("\n", " ")
        return f"{self.path}:{self.line}: {self.what}: {old[:90]!r} -> {self.new.replace(chr(10), ' ')[:90]!r}"


def _offsets(source: str) -> list[int]:
    starts, total = [], 0
    for line in source.splitlines(keepends=True):
        starts.append(total)
        total += len(line)
    return starts


def _inside_docstring(node: ast.AST, parents: dict) -> bool:
    parent = parents.get(node)
    return isinstance(parent, ast.Expr) and isinstance(getattr(node, "value", None), str)


def mutants_of(path: str) -> list[Mutant]:
    source = (ROOT / path).read_text()
    tree = ast.parse(source)
    lines = _offsets(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    out: list[Mutant] = []

    def span(node) -> tuple[int, int]:
        return lines[node.lineno - 1] + node.col_offset, lines[node.end_lineno - 1] + node.end_col_offset

    def add(node, what: str, replacement: str) -> None:
        a, b = span(node)
        out.append(Mutant(path, node.lineno, what, a, b, replacement))

    in_function = set()
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            in_function.update(ast.walk(fn))
    for node in ast.walk(tree):
        if node not in in_function:
            continue   # module constants and tables: data, checked by their own tests
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _COMPARE_SWAP:
            mutated = ast.Compare(left=node.left, ops=[_COMPARE_SWAP[type(node.ops[0])]()], comparators=node.comparators)
            add(node, "comparison flipped", "(" + ast.unparse(mutated) + ")")
        elif isinstance(node, ast.BoolOp):
            mutated = ast.BoolOp(op=ast.Or() if isinstance(node.op, ast.And) else ast.And(), values=node.values)
            add(node, "and/or swapped", "(" + ast.unparse(mutated) + ")")
        elif isinstance(node, (ast.If, ast.While)) and not isinstance(node.test, ast.Constant):
            add(node.test, "condition negated", "(not (" + ast.unparse(node.test) + "))")
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            add(node, "boolean swapped", repr(not node.value))
        elif isinstance(node, ast.Constant) and type(node.value) is int and not _inside_docstring(node, parents):
            add(node, "integer off by one", repr(node.value + 1))
        elif isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            add(node, "return value dropped", "return None")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.Expr)) and not (
                isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            parent = parents.get(node)
            body = getattr(parent, "body", None)
            if isinstance(body, list) and len(body) > 1 and node.lineno == node.end_lineno:
                add(node, "statement removed", "pass")
    return out


def workspace() -> Path:
    """A private copy of the checkout next to a link to ../shared (the corpus)."""
    base = Path(tempfile.mkdtemp(prefix="postrender-mutants-"))
    (base / "shared").symlink_to(ROOT.parent / "shared")
    repo = base / "repo"
    repo.mkdir()
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, repo / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.exists():
            shutil.copy2(src, repo / name)
    return base


def run_tests(repo: Path, tests: list[str], timeout: float) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTRENDER_") or k == "POSTRENDER_TOOLS_DIR"}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not e2e",
                               *tests], cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "killed (timeout)"
    if proc.returncode == 0:
        return "survived"
    if proc.returncode == 1:
        return "killed"
    return f"error (pytest exit {proc.returncode})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--module", action="append", choices=sorted(GROUPS))
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--report", type=Path)
    args = ap.parse_args()
    groups = args.module or sorted(GROUPS)
    rng = random.Random(args.seed)
    chosen: list[tuple[str, Mutant]] = []
    pools = {g: [m for path in GROUPS[g][0] if (ROOT / path).exists() for m in mutants_of(path)] for g in groups}
    if args.list:
        for g, pool in pools.items():
            for m in pool:
                print(g, m.describe((ROOT / m.path).read_text()))
        return 0
    per_group = max(1, args.max // len(groups))
    for g in groups:
        chosen += [(g, m) for m in rng.sample(pools[g], min(per_group, len(pools[g])))]
    # Stopped with SIGTERM (kill, timeout): unwind through `finally` so the copy is removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    base = workspace()
    repo = base / "repo"
    results = []
    try:
        baseline = {g: run_tests(repo, GROUPS[g][1], args.timeout) for g in groups}
        broken = [g for g, r in baseline.items() if r != "survived"]
        if broken:
            print(f"mutants: the unmutated tests do not pass for {broken}: {baseline}", file=sys.stderr)
            return 2
        for n, (g, m) in enumerate(chosen, 1):
            target = repo / m.path
            original = target.read_text()
            mutated = original[:m.start] + m.new + original[m.end:]
            try:
                ast.parse(mutated)
            except SyntaxError:
                continue
            target.write_text(mutated)
            started = time.monotonic()
            try:
                verdict = run_tests(repo, GROUPS[g][1], args.timeout)
            finally:
                target.write_text(original)
            line = f"[{n}/{len(chosen)}] {verdict:<16} {time.monotonic() - started:5.0f} s  {m.describe(original)}"
            print(line, flush=True)
            results.append((verdict, line))
    finally:
        shutil.rmtree(base)
    survived = [line for verdict, line in results if verdict == "survived"]
    summary = (f"mutants: {len(results)} run (seed {args.seed}), {len(results) - len(survived)} killed, "
               f"{len(survived)} survived")
    print("\n" + summary + ("\nsurviving mutants:\n" + "\n".join(survived) if survived else ""))
    if args.report:
        args.report.write_text(summary + "\n" + "\n".join(line for _, line in results) + "\n")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
