"""The README's figures: every number of its Reliability and Benchmark tables and its command.

The tables in README.md are *generated* from ``tests/figures.json`` (what the commands printed
on their last full run) and from the test counts pytest collects now; ``tests/test_figures.py``
fails when README.md differs from what this module renders, so a figure cannot drift from its
source without a failing test.

    python -m tests.figures                 # print both tables as they should read
    python -m tests.figures --write         # rewrite README.md between the figures markers
    python -m tests.figures --run bounded   # run every row's command at CI size; print the table
    python -m tests.figures --run full [ROW ...]   # the README commands (by hand: ~1 h for all,
                                            # the kubectl campaign ~40 min of it); updates
                                            # tests/figures.json and README.md
    python bench/run.py --json bench/figures.json && python -m tests.figures --write   # benchmark

How a test reports a figure: ``record(row, params, counts, measured)`` prints one line
``figure ROW: {...}`` (shown with ``pytest -s``) and appends it to ``$POSTRENDER_FIGURES_OUT``
when set.  When a test runs with the parameters of the committed full run (the README command,
or CI's own run for the rows CI runs in full) and is not regenerating, it asserts that its
counts *equal* the committed ones: running a row's command reproduces the row or fails.
Time and memory bounds are the constants in ``BOUNDS``: the tests assert them, the README
quotes them from here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ROOT / "tests" / "figures.json"
BENCH_FIGURES = ROOT / "bench" / "figures.json"
README = ROOT / "README.md"
OUT_ENV = "POSTRENDER_FIGURES_OUT"

# Asserted by the tests named in each row and quoted by the README from here.  CPU seconds (user +
# system of the postrender process), so that a loaded CI machine measures the same work.
BOUNDS = {
    "bomb_cpu_seconds": 2.0,       # each bomb refused (or passed through) in under this
    "bomb_rss_mb": 300,            # ... with a peak RSS under this
    "template_cpu_seconds": 3.0,   # a hostile template, as a real process with the shipped limits
    "template_rss_mb": 450,        # (the sandbox lets a render add 256 MiB of address space)
    "large_rss_mb": 150,           # large valid streams, `rules: []` and imagePullPolicy: peak RSS, any size
    "large_pull_secret_rss_mb": 100,          # the pull-secret rules keep one location string per
    "large_pull_secret_rss_mb_per_mb": 1.0,   # reference (SECURITY.md): this much more per MB of stream
    "large_cpu_seconds_per_mb": 2.5,
}

# The parameters of each row's full run: the README's commands are generated from these, and
# tests/figures.json must hold a figure measured with exactly these (tests/test_figures.py).
FULL = {
    "streams": {"examples": 5000, "seed": 41},
    "bytes-33": {"examples": 5000, "seed": 33, "max_file_bytes": "400000"},
    "bytes-36": {"examples": 1000, "seed": 36, "max_file_bytes": "inf"},
    "kube": {"streams": 20000, "seed": 1},
    "bombs": {},
    "large": {"mb": 100.0},
    "meaning": {},
    "templates": {},
}
# `--run bounded`: CI's sizes where a row has a campaign.
BOUNDED = {"streams": {"examples": 300, "seed": 41}, "bytes-33": {"examples": 300, "seed": 33, "max_file_bytes": "400000"},
           "bytes-36": {"examples": 60, "seed": 36, "max_file_bytes": "inf"}, "kube": {"streams": 400, "seed": 11},
           "large": {"mb": 2.0}}
PY = ".venv/bin/python -m pytest -p no:cacheprovider -q -s"


def command(row: str, params: dict) -> tuple[str, dict, list[str]]:
    """(the shell command, its environment, pytest's arguments) that measure ``row`` with ``params``."""
    if row == "streams":
        env, args = {"POSTRENDER_FUZZ_EXAMPLES": str(params["examples"])}, ["tests/test_fuzz_streams.py", f"--hypothesis-seed={params['seed']}"]
    elif row.startswith("bytes-"):
        env = {"POSTRENDER_FUZZ_EXAMPLES": str(params["examples"])}
        env.update({"POSTRENDER_FUZZ_ALL_FILES": "1"} if params["max_file_bytes"] == "inf"
                   else {"POSTRENDER_FUZZ_MAX_FILE_BYTES": params["max_file_bytes"]})
        args = ["tests/test_fuzz_bytes.py", f"--hypothesis-seed={params['seed']}"]
    elif row == "kube":
        env, args = {"POSTRENDER_KUBE_STREAMS": str(params["streams"]), "POSTRENDER_KUBE_SEED": str(params["seed"])}, ["tests/test_kube_differential.py"]
    elif row == "bombs":
        env, args = {}, ["tests/test_resource_bombs.py", "-k", "test_bomb_"]
    elif row == "large":
        env, args = {"POSTRENDER_LARGE_STREAM_MB": f"{params['mb']:g}"}, ["tests/test_resource_bombs.py", "-k", "large_valid_stream"]
    elif row == "meaning":
        env, args = {}, ["tests/test_meaning_corpus.py"]
    elif row == "templates":
        env, args = {}, ["tests/test_template_sandbox.py"]
    else:
        raise KeyError(row)
    shown = " ".join(f"{k}={v}" for k, v in env.items()) + (" " if env else "") + PY + " " + " ".join(
        f"'{a}'" if " " in a or "*" in a else a for a in args)
    return shown, env, args


# Rows that are a count of tests (every one must pass): collected by pytest when rendering.
COUNTED = {
    "signals": ["tests/test_output_safety.py"],
    "boundary": ["tests/test_output_errors.py"],
    "idempotency": ["tests/test_idempotency.py"],
    "leaks": ["tests/test_secret_leaks.py", "tests/test_pull_secret_security.py"],
    "matrix": ["tests/test_secret_matrix.py", "tests/test_redaction.py"],
    "abuse": ["tests/test_config_abuse.py"],
}


# ---- what tests call ---------------------------------------------------------------------------

def committed(row: str) -> dict | None:
    data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    return data.get(row)


def record(row: str, params: dict, counts: dict, measured: dict | None = None) -> None:
    """Print (and append to $POSTRENDER_FIGURES_OUT) one figure; when ``params`` are those of the
    committed figure and nothing is being regenerated, the counts must equal the committed ones."""
    entry = {"row": row, "params": params, "counts": dict(sorted(counts.items())), "measured": measured or {}}
    line = json.dumps(entry, sort_keys=True)
    print(f"\nfigure {row}: {line}")
    out = os.environ.get(OUT_ENV)
    if out:
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        return
    known = committed(row)
    if known and known["params"] == entry["params"]:
        assert entry["counts"] == known["counts"], (
            f"figure {row} with {params}: {entry['counts']} but README/tests/figures.json say {known['counts']}; "
            "if the change is intended, regenerate: python -m tests.figures --run full " + row)


# ---- counting tests -------------------------------------------------------------------------------

def collected(files: list[str]) -> int:
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *files],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    m = re.search(r"^(\d+) tests? collected", proc.stdout, re.M)
    if not m:
        raise SystemExit(f"figures: cannot count the tests of {files}: {proc.stdout[-500:]}{proc.stderr[-500:]}")
    return int(m.group(1))


# ---- rendering ----------------------------------------------------------------------------------

def n(value) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _c(data: dict, row: str) -> dict:
    entry = data.get(row)
    if entry is None:
        raise SystemExit(f"figures: no committed figure for {row!r}: python -m tests.figures --run full {row}")
    return entry["counts"]


def reliability_rows(data: dict, counts: dict) -> list[tuple[str, ...]]:
    """(what was tried, inputs, changed & checked, unchanged, syntax only, refused, bad outcomes)."""
    b = BOUNDS
    s = _c(data, "streams")
    rows = [(
        "generated manifest streams (corpus objects in random styles, YAML 1.1 scalars, anchors, merge keys, CRLF, BOM) "
        "× random rule sets of every rule type and option; output compared with a result computed independently "
        "(tests/test_fuzz_streams.py)",
        n(s["inputs"]), f"{n(s['exit 0, changed'])}: every changed document and every added one equal to the expected data",
        f"{n(s['exit 0, unchanged'])}: byte-identical, as expected", "–",
        f"{n(s.get('clean error (expected)', 0))} predicted errors (exit 3); {n(s.get('check failed (expected)', 0))} "
        f"predicted failed checks (exit 1, nothing written); {n(s.get('check failed on an image the oracle does not model', 0))} "
        "failed `allowedRegistries` checks on images outside containers (not predicted, checked for form)", "0"),
    ]
    b33, b36 = _c(data, "bytes-33"), _c(data, "bytes-36")
    total = lambda key: b33.get(key, 0) + b36.get(key, 0)  # noqa: E731
    errors = sum(v for k, v in {**b33}.items() if k.startswith("clean error")) + \
        sum(v for k, v in b36.items() if k.startswith("clean error"))
    rows.append((
        "bytes: truncated, bit-flipped and spliced corpus documents, invalid UTF-8, NUL/control bytes, 2 MB lines, "
        "random text (tests/test_fuzz_bytes.py, two campaigns)",
        n(total("inputs")), "–",
        f"{n(total('exit 0, no rules: output = input'))}: no rules, output byte-identical to the input",
        f"{n(total('exit 0, edit rules: syntax checked'))}: every rule editing, output well-formed YAML "
        f"({n(total('exit 0, edit rules: output = input'))} of them unchanged)",
        n(errors), "0"))
    k = _c(data, "kube")
    refused = sum(v for key, v in k.items() if key.startswith("refused"))
    rows.append((
        f"kubectl as the judge: generated streams with the constructs Go YAML reads its own way × random rules; kubectl "
        f"reads every input and every output (tests/test_kube_differential.py, {n(data['kube']['params']['streams'])} streams)",
        n(k["streams"]), f"{n(k.get('changed', 0))}: kubectl reads exactly the expected objects from the output",
        f"{n(k.get('unchanged', 0))}: byte-identical, and read alike by kubectl and postrender", "–",
        f"{n(refused)} (refused by both, or deliberately: {n(k.get('refused, rules cannot apply', 0))} rule errors)", "0"))
    bm = _c(data, "bombs")
    measured = data["bombs"].get("measured", {})
    rows.append((
        "resource bombs: billion laughs, wide alias and merge-key bombs, 10k-deep block/flow nesting, 100 MB scalars, "
        "a bomb inside the config (tests/test_resource_bombs.py)",
        n(bm["bombs"]), "–", f"{n(bm['passed'])}: a bomb in a document no rule touches passes byte-identical, unexpanded", "–",
        f"{n(bm['refused'])}; each < {b['bomb_cpu_seconds']:g} s CPU and < {b['bomb_rss_mb']} MB RSS, asserted "
        f"(last full run: max {measured.get('max_cpu_seconds', '?')} s, {measured.get('max_rss_mb', '?')} MB)", "0"))
    lg = data.get("large")
    if lg:
        lc, lm = lg["counts"], lg.get("measured", {})
        rows.append((
            f"large valid streams: {lg['params']['mb']:g} MB of small Deployments and ConfigMaps with `rules: []`, "
            "imagePullPolicy, and the incident-5 pull-secret rules (tests/test_resource_bombs.py)",
            "3 runs", f"{n(lc['deployments'])} Deployments edited (pull policy: every one), one Secret added",
            f"`rules: []`: all {n(lc['documents'])} documents byte-identical", "–", "–",
            f"0; peak RSS < {b['large_rss_mb']} MB whatever the size (pull-secret rules: < {b['large_pull_secret_rss_mb']} MB + "
            f"{b['large_pull_secret_rss_mb_per_mb']:g} MB per MB of stream), < {b['large_cpu_seconds_per_mb']:g} s CPU per MB, "
            f"asserted (last run, CPU / RSS: {lm.get('summary', '?')})"))
    rows.append((
        "signals and pipes: kill -9 during `-o`, SIGINT, SIGTERM while reading and while working, closed pipe, file mode "
        "(tests/test_output_safety.py)",
        f"{n(counts['signals'])} tests", "–", "old `-o` file intact every time", "–", "130 / 143, one line", "0"))
    rows.append((
        "the process boundary: every OS error of the output path provoked for real, 11 signals during `-o`, "
        "closed/broken/full stderr, closed stdout × 7 commands (tests/test_output_errors.py)",
        f"{n(counts['boundary'])} tests", "–", "`-o` through symlinks, FIFOs and devices written as meant", "–",
        "exit 2 one line / 128+N, no `.tmp` left", "0"))
    m = _c(data, "meaning")
    rows.append((
        "meaning over the corpus with every rule type: 15 files + stress.yaml (tests/test_meaning_corpus.py)",
        f"{n(m['objects compared'])} documents", f"{n(m['changed'])} changed = expected; {n(m['validated'])} "
        f"schema-valid (Kubernetes 1.37) before and after; {n(m['added (validated)'])} added, as predicted",
        f"{n(m['byte-identical'])} byte-identical", "–", "–", "0"))
    rows.append((
        "idempotency f(f(x)) == f(x), the same config twice, per rule type × corpus file (tests/test_idempotency.py)",
        f"{n(counts['idempotency'])} tests", "–", "every second run byte-identical to the first", "–", "–", "0"))
    rows.append((
        "planted password/token via 6 input channels × 6 failure modes, every output channel "
        "(tests/test_secret_leaks.py, tests/test_pull_secret_security.py)",
        f"{n(counts['leaks'])} tests", "–", "–", "–", "–", "0 leaks"))
    rows.append((
        "secret matrix: 7 input channels × 4 secrets × stderr, log file, `--explain`, `diff`, KRM results, manifests; "
        "every encoding of the redactor (tests/test_secret_matrix.py, tests/test_redaction.py)",
        f"{n(counts['matrix'])} tests", "every generated `.dockerconfigjson` holds the secret exactly", "–", "–", "–", "0 leaks"))
    t = _c(data, "templates")
    tm = data["templates"].get("measured", {})
    rows.append((
        "hostile templates (Python internals, include/import, huge loops/strings/numbers, recursion) × 6 places "
        "(tests/test_template_sandbox.py)",
        n(t["refused in-process"] + t["refused as a process"]), "–", "–", "–",
        f"{n(t['refused in-process'])} in-process (a 0.1 s CPU limit: the mechanism) + {n(t['refused as a process'])} "
        f"as real processes with the shipped limits, each < {b['template_cpu_seconds']:g} s CPU and < {b['template_rss_mb']} MB, "
        f"asserted (last full run: max {tm.get('max_cpu_seconds', '?')} s, {tm.get('max_rss_mb', '?')} MB); all exit 2", "0"))
    rows.append((
        "config abuse: self-reference, `../../etc/passwd`, symlinks out, 10 MB variables, 50 MB config, bombs, bad "
        "encodings (tests/test_config_abuse.py)",
        f"{n(counts['abuse'])} tests", "–", "–", "–", "exit 2 one line, or the documented behaviour", "0"))
    return rows


HEADER = ("| what was tried | inputs | exit 0, changed: checked against the oracle | exit 0, unchanged | "
          "exit 0, syntax-checked only | refused: one clean line | tracebacks, partial outputs, hangs, leaks |\n"
          "|---|---|---|---|---|---|---|\n")


def reliability_table(data: dict, counts: dict) -> str:
    body = "".join("| " + " | ".join(cells) + " |\n" for cells in reliability_rows(data, counts))
    commands = "".join(f"{command(row, FULL[row])[0]}   # {row}\n" for row in FULL)
    return (HEADER + body + "\nReproduce (each test prints `figure ROW: {...}`; run with these parameters, it asserts that "
            "its counts equal the table's; the test counts: `python -m tests.figures`):\n\n```sh\n" + commands + "```\n")


def benchmark_table(bench: dict) -> str:
    lines = ["| input | postrender | kubectl kustomize | time ratio | peak RSS postrender / kustomize |",
             "|---|---|---|---|---|"]
    for case in bench["inputs"]:
        lines.append(f"| {case['label']} | {case['postrender_s']:.3f} s, {case['postrender_mib']:.0f} MiB | "
                     f"{case['kustomize_s']:.3f} s, {case['kustomize_mib']:.0f} MiB | {case['time_ratio']:.3f}x | "
                     f"{case['rss_ratio']:.3f}x |")
    start = bench["startup"]
    lines.append(f"| empty input (start-up) | {start['postrender_s']:.3f} s | – (`python -c pass`: "
                 f"{start['python_s']:.3f} s) | {start['time_ratio']:.2f}x `python -c pass` | – |")
    return ("\n".join(lines) + f"\n\n{bench['header']}; every kustomization proven equivalent (same objects, as data) "
            "before timing. Reproduce: `python bench/run.py --json bench/figures.json && python -m tests.figures --write`.\n")


# ---- README sections between markers --------------------------------------------------------------

def _section(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- figures:{name} begin[^>]*-->\n)(.*?)(<!-- figures:{name} end -->)", re.S)


def rendered_readme(text: str, data: dict, counts: dict, bench: dict | None) -> str:
    sections = {"reliability": reliability_table(data, counts)}
    if bench is not None:
        sections["benchmark"] = benchmark_table(bench)
    for name, table in sections.items():
        pattern = _section(name)
        if not pattern.search(text):
            raise SystemExit(f"figures: README.md has no '<!-- figures:{name} begin -->' ... end markers")
        text = pattern.sub(lambda m: m.group(1) + table + m.group(3), text)
    return text


def load() -> tuple[dict, dict, dict | None]:
    data = json.loads(FIGURES.read_text())
    counts = {row: collected(files) for row, files in COUNTED.items()}
    bench = json.loads(BENCH_FIGURES.read_text()) if BENCH_FIGURES.exists() else None
    return data, counts, bench


# ---- running the commands ----------------------------------------------------------------------

def run_rows(mode: str, rows: list[str]) -> dict:
    """Run each row's command (full: the README's parameters; bounded: CI's sizes); their figures."""
    import tempfile

    results = {}
    for row in rows:
        params = FULL[row] if mode == "full" else BOUNDED.get(row, FULL[row])
        _shown, env_row, args = command(row, params)
        env = {k: v for k, v in os.environ.items() if not k.startswith("POSTRENDER_")} | env_row
        with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as out:
            env[OUT_ENV] = out.name
            print(f"figures: {row} ({mode}: {params}) ...", file=sys.stderr, flush=True)
            proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args], cwd=ROOT, env=env)
            if proc.returncode:
                raise SystemExit(f"figures: {row} failed (exit {proc.returncode}); nothing written")
            for line in out.read().splitlines():
                entry = json.loads(line)
                results[entry["row"]] = {k: entry[k] for k in ("params", "counts", "measured")}
        if row not in results:
            raise SystemExit(f"figures: {row} printed no figure")
    return results


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite README.md's figures sections")
    ap.add_argument("--check", action="store_true", help="exit 1 when README.md differs")
    ap.add_argument("--run", choices=["full", "bounded"])
    ap.add_argument("rows", nargs="*", help=f"rows to run (default: all of {', '.join(FULL)})")
    args = ap.parse_args(argv)
    if args.run:
        results = run_rows(args.run, args.rows or list(FULL))
        if args.run == "bounded":
            data = (json.loads(FIGURES.read_text()) if FIGURES.exists() else {}) | results
            counts = {row: collected(files) for row, files in COUNTED.items()}
            print(reliability_table(data, counts))
            return 0
        data = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
        data.update(results)
        FIGURES.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        args.write = True
    data, counts, bench = load()
    text = README.read_text()
    new = rendered_readme(text, data, counts, bench)
    if args.write:
        README.write_text(new)
    elif args.check:
        if new != text:
            print("figures: README.md differs from its figures; run python -m tests.figures --write", file=sys.stderr)
            return 1
    else:
        print(reliability_table(data, counts))
        if bench:
            print(benchmark_table(bench))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
