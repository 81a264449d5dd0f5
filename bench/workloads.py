"""A workload-dense stream made from the corpus at run time (never committed).

Every Deployment, StatefulSet, DaemonSet, Job, CronJob and Pod of ../shared/corpus/files, as
written there, repeated with a unique ``metadata.name`` (``-w<N>`` appended) until the stream
reaches the size asked for: the kind of input where every document is touched by the rules
(issue 16: "streams full of workloads").
"""

from __future__ import annotations

import re
from pathlib import Path

from postrender.engine.stream import parse_stream

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod"}
_NAME = re.compile(r"(?m)^(  name: )(\S+)[ \t]*$")


def workload_documents(corpus_files: list[Path]) -> list[str]:
    out = []
    for path in corpus_files:
        for doc in parse_stream(path.read_bytes()).documents:
            if doc.void or doc.kind not in WORKLOAD_KINDS:
                continue
            text = doc.text if doc.text.startswith("---") else "---\n" + doc.text
            if _NAME.search(text):
                out.append(text if text.endswith("\n") else text + "\n")
    return out


def workload_stream(corpus_files: list[Path], size: int) -> bytes:
    """Corpus workloads, renamed copies, until ``size`` bytes."""
    documents = workload_documents(corpus_files)
    pieces, total, n = [], 0, 0
    while total < size:
        text = documents[n % len(documents)]
        renamed = _NAME.sub(lambda m: f"{m.group(1)}{m.group(2).strip(chr(34) + chr(39))}-w{n}", text, count=1)
        pieces.append(renamed)
        total += len(renamed.encode("utf-8"))
        n += 1
    return "".join(pieces).encode("utf-8")
