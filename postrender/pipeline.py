"""The pure pipeline: bytes -> documents -> rules -> bytes.

``run_stream`` parses the stream, validates every document (libyaml, in C), applies the rules in
order and renders the output.  It never writes anything: the CLI decides what to do with the
result, so a failure anywhere leaves stdout empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .config import Config
from .errors import CheckFailed, RuleError
from .rules.base import Change, RunContext
from .stream import Stream, parse_stream


@dataclass
class RunResult:
    output: bytes
    stream: Stream
    changes: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)


def _compare(op: str, count: int, expected: int) -> bool:
    return {"==": count == expected, ">=": count >= expected, "<=": count <= expected,
            ">": count > expected, "<": count < expected}[op]


def run_stream(config: Config, data: bytes, explain: bool = False) -> RunResult:
    stream = parse_stream(data)
    for doc in stream.documents:
        doc.validate()
    ctx = RunContext(config.variables, config.pod_specs, config.image_fields, explain=explain)
    documents = stream.documents
    for rule in config.rules:
        # Count what the rule matches *before* it runs: a patch may delete or rename what it
        # matched (issue 5: "how many resources a patch matched").
        count = sum(1 for _ in rule.select(documents)) if rule.expect is not None else 0
        documents = rule.apply(documents, ctx)
        if rule.expect is not None:
            op, expected = rule.expect
            if not _compare(op, count, expected):
                raise CheckFailed(
                    f"{rule.label()}: expected {op if op != '==' else ''}{expected} matching resources, matched {count}"
                )
    stream.documents = documents
    _refuse_emptied(stream)
    warnings = [w for d in documents for w in d.warnings] + ctx.warnings
    # Check failures do not stop rendering here: the CLI prints them and withholds the output,
    # the KRM function reports them as results.
    output = stream.to_bytes()
    return RunResult(output, stream, ctx.changes, warnings, ctx.failures)


def _refuse_emptied(stream: Stream) -> None:
    """Rules that delete every resource are an error, not an empty success.

    Helm 4 fails on empty post-renderer output with a message that does not name the cause, and
    in a pipe an empty stream makes `kubectl apply` a silent no-op; so say what happened here.
    Only runs when something was removed: an input that was empty to begin with (Helm 3 with
    --output-dir sends nothing) stays empty with exit 0.
    """
    removed = [d for d in stream.documents if d.removed]
    if not removed:
        return
    if any(not d.void and not d.removed for d in stream.documents):
        return
    first = removed[0]
    raise RuleError(
        f"the rules removed all {len(removed)} resource(s), starting with {first.where()}; refusing to "
        "write an empty stream (Helm 4 rejects empty post-renderer output): narrow the target of "
        "the patch that uses `$patch: delete`"
    )
