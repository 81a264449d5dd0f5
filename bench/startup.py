#!/usr/bin/env python3
"""Start-up cost of postrender at git revisions, side by side (issue 16).

    .venv/bin/python bench/startup.py [--runs 15] [--config bench/postrender-full.yaml] REV [REV ...]

Each revision's postrender/, templates/ and bench/ are exported into a temporary directory
(``.`` is the working tree as it is), byte-compiled once, then measured in turns, one run of
each revision after the other, so that the load of a shared machine falls on all of them alike:

- ``import``: milliseconds to ``import postrender.pipeline, postrender.runner`` (the brief's
  figure; with an editable install pathlib is loaded before postrender, by the install's hook);
- ``run-empty`` and ``run-nginx``: milliseconds from interpreter start-up to the end of a whole
  run of ``-c CONFIG`` on empty stdin and on the ingress-nginx render from the shared corpus,
  started with ``-S`` and the tree first on sys.path (no site.py, no .pth hooks: what a
  non-editable install imports).

Medians are printed.  Numbers mean something only next to each other, from the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NGINX = os.path.join(os.path.dirname(ROOT), "shared", "corpus", "files", "helm-ingress-nginx-4.15.1.yaml")
IMPORT = ("import time; t = time.perf_counter(); import postrender.pipeline, postrender.runner;"
          " print((time.perf_counter() - t) * 1000)")
RUN = """import sys, time
t = time.perf_counter()
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import runpy
sys.argv = ["postrender", "-c", sys.argv[3]]
try:
    runpy.run_module("postrender", run_name="__main__")
except SystemExit:
    pass
sys.stderr.write("\\nMS %f\\n" % ((time.perf_counter() - t) * 1000))
"""


def export(rev: str, into: str) -> str:
    if rev == ".":
        return ROOT
    target = os.path.join(into, rev.replace("/", "_"))
    os.makedirs(target)
    archive = subprocess.run(["git", "-C", ROOT, "archive", rev, "postrender", "templates", "bench"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", target], input=archive, check=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revs", nargs="+")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--config", default="bench/postrender-full.yaml")
    args = parser.parse_args()
    purelib = sysconfig.get_paths()["purelib"]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    with tempfile.TemporaryDirectory() as tmp:
        trees = {rev: export(rev, tmp) for rev in args.revs}
        for tree in trees.values():
            subprocess.run([sys.executable, "-m", "compileall", "-q", "postrender"], cwd=tree, check=True)
        times: dict[str, dict[str, list[float]]] = {rev: {"import": [], "run-empty": [], "run-nginx": []}
                                                    for rev in trees}
        for _ in range(args.runs):
            for rev, tree in trees.items():
                out = subprocess.run([sys.executable, "-c", IMPORT], cwd=tree, capture_output=True, text=True,
                                     check=True, env=dict(env, PYTHONPATH=tree))
                times[rev]["import"].append(float(out.stdout))
                for name, stdin in (("run-empty", os.devnull), ("run-nginx", NGINX)):
                    with open(stdin, "rb") as fh:
                        run = subprocess.run([sys.executable, "-S", "-c", RUN, tree, purelib, args.config], cwd=tree,
                                             stdin=fh, capture_output=True, text=True, env=env)
                    times[rev][name].append(float(run.stderr.rsplit("\nMS ", 1)[1]))
    for rev, figures in times.items():
        shown = ", ".join(f"{name} {statistics.median(values):.1f} ms" for name, values in figures.items())
        print(f"{rev}: {shown} (medians of {args.runs})")


if __name__ == "__main__":
    main()
