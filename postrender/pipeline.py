"""The pure pipeline: bytes -> documents -> rules -> bytes.

``run_stream`` parses the stream, validates every document (libyaml, in C), applies the rules in
order and renders the output.  It never writes anything the caller can see before the end:
``run_into`` writes into a sink the caller discards on failure (a temporary file renamed over
``-o`` or spooled and copied to stdout), so a failure anywhere leaves stdout empty.

Memory (issue 7).  The stream is read, edited and written in batches of about ``BATCH_BYTES``:
peak memory follows the largest document, not the stream.  Rules that edit documents one at a
time (``Rule.per_document``) run on each batch; rules that
must see everything before they add documents or report (``Rule.observes``: pullSecret,
resources, pullSecretReferences' checks) observe each batch and add their documents at the end,
where the rules after them run on those.  Only the forms that edit a document from what they
found in others (pullSecretReferences ``remove``, imagePullSecrets with ``registries`` and
``serviceAccounts``) get every document at once, as text plus whatever they parse.
"""

from __future__ import annotations

import io

from postrender.config.loader import Config
from postrender.errors import CheckFailed, RuleError
from postrender.rules.base import Change, RunContext
from postrender.engine.stream import DocumentReader, Stream, StreamWriter
from postrender.records import Record

# Text per batch in the per-document mode.  Parsed nodes and data take ~10-30x the text, so
# 1 MiB of small documents is ~30 MB of objects: well inside the 300 MB bound for any stream,
# and large enough that the per-batch loop costs nothing measurable.
BATCH_BYTES = 1 << 20


class RunResult(Record):
    _fields = ("output", "stream", "changes", "warnings", "failures")

    def __init__(self, output: bytes | None, stream: Stream, changes: list[Change] | None = None,
                 warnings: list[str] | None = None, failures: list[str] | None = None):
        self.output = output
        self.stream = stream
        self.changes = [] if changes is None else changes
        self.warnings = [] if warnings is None else warnings
        self.failures = [] if failures is None else failures


def _compare(op: str, count: int, expected: int) -> bool:
    return {"==": count == expected, ">=": count >= expected, "<=": count <= expected,
            ">": count > expected, "<": count < expected}[op]


def _check_expect(rule, count: int) -> None:
    op, expected = rule.expect
    if not _compare(op, count, expected):
        raise CheckFailed(
            f"{rule.located()}: expected {op if op != '==' else ''}{expected} matching resources, matched {count}"
        )


def per_document(config: Config) -> bool:
    """Whether the stream can be run in batches (Rule.per_document / Rule.observes)."""
    return all(rule.per_document or rule.observes for rule in config.rules)


def run_stream(config: Config, data: bytes, explain: bool = False, namespace: str = "") -> RunResult:
    """The whole stream in memory (diff, images, KRM): output bytes and every document."""
    out = io.BytesIO()
    result = run_into(config, [data], out, explain=explain, keep_documents=True, namespace=namespace)
    result.output = out.getvalue()
    return result


def run_into(config: Config, chunks, sink, explain: bool = False, keep_documents: bool = False,
             namespace: str = "") -> RunResult:
    """Read the stream from an iterable of byte chunks, write the output into ``sink``.

    ``namespace`` is the namespace resources without ``metadata.namespace`` are installed into
    (``--namespace``, ``$HELM_NAMESPACE``), "" when unknown: the pull-secret rules resolve
    references and generate Secrets per real namespace with it.
    """
    reader = DocumentReader(chunks)
    ctx = RunContext(config.variables, config.pod_specs, config.image_fields, explain=explain,
                     namespace=namespace or "", image_discovery=getattr(config, "image_discovery", None))
    if keep_documents or not per_document(config):
        documents = _apply(config, list(reader), ctx, expect_now=True)
        tally = _Removals()
        tally.add(documents)
        tally.refuse_emptied()
        writer = StreamWriter(sink, reader.bom)
        for doc in documents:
            writer.write(doc.render())
        warnings = [w for d in documents for w in d.warnings]
        stream = Stream(documents, bom=reader.bom)
    else:
        counts = [0] * len(config.rules)
        states: list[dict] = [{} for _ in config.rules]
        tally = _Removals()
        warnings = []
        writer = None
        batch: list = []
        size = 0
        position = _Position()
        for doc in reader:
            batch.append(doc)
            size += len(doc.text)
            if size >= BATCH_BYTES:
                position.add(batch)
                writer = _batch(config, batch, ctx, counts, tally, warnings, writer, sink, reader, states)
                batch, size = [], 0
        position.add(batch)
        writer = _batch(config, batch, ctx, counts, tally, warnings, writer, sink, reader, states)
        generated = _finish(config, ctx, counts, states, position)
        if generated:
            tally.add(generated)
            for doc in generated:
                writer.write(doc.render())
                warnings.extend(doc.warnings)
        for rule, count in zip(config.rules, counts):
            if rule.expect is not None:
                _check_expect(rule, count)
        tally.refuse_emptied()
        stream = Stream([], bom=reader.bom)
    # Check failures do not stop rendering here: the CLI prints them and withholds the output,
    # the KRM function reports them as results.
    return RunResult(None, stream, ctx.changes, warnings + ctx.warnings, ctx.failures)


def _batch(config, batch, ctx, counts, tally, warnings, writer, sink, reader, states):
    if writer is None:  # the BOM is known once the first chunk is read
        writer = StreamWriter(sink, reader.bom)
    documents = _apply(config, batch, ctx, expect_now=False, counts=counts, states=states)
    tally.add(documents)
    for doc in documents:
        writer.write(doc.render())
        warnings.extend(doc.warnings)
    return writer


def _apply(config, documents, ctx, expect_now: bool, counts=None, states=None, first: int = 0):
    """Rules ``first``.. on documents; with ``states`` (batched mode) observing rules observe."""
    for doc in documents:
        doc.validate()
        doc.check_manifest()
    for i, rule in enumerate(config.rules[first:], start=first):
        # Count what the rule matches *before* it runs: a patch may delete or rename what it
        # matched (issue 5: "how many resources a patch matched").
        count = sum(1 for _ in rule.select(documents)) if rule.expect is not None else 0
        if states is not None and rule.observes:
            rule.observe(documents, ctx, states[i])
        else:
            documents = rule.apply(documents, ctx)
        if rule.expect is not None:
            if expect_now:
                _check_expect(rule, count)
            else:
                counts[i] += count
    return documents


class _Position:
    """Where documents generated at the end go: their index and the stream's newline."""

    def __init__(self):
        self.index = 0
        self.nl: str | None = None

    def add(self, documents) -> None:
        for doc in documents:
            if not doc.void:
                self.index += 1
                if self.nl is None:
                    self.nl = "\r\n" if "\r\n" in doc.text else "\n"


def _finish(config, ctx, counts, states, position: _Position) -> list:
    """End of a batched stream: each observing rule adds its documents, in rule order, and the
    rules after it run on them, as in whole-stream mode where they are appended at its turn."""
    tail: list = []
    for i, rule in enumerate(config.rules):
        if not rule.observes:
            continue
        new = rule.finish(ctx, states[i], position.index, position.nl or "\n")
        position.index += len(new)
        if new:
            tail += _apply(config, new, ctx, expect_now=False, counts=counts, states=states, first=i + 1)
    # Rules after the last observing one have run on the tail; observing rules after the one
    # that generated a document observed it before their own finish (rule order).
    return tail


class _Removals:
    """What rules removed, counted batch by batch, for :meth:`refuse_emptied`."""

    def __init__(self):
        self.removed = 0
        self.first: str | None = None  # how messages name the first removed document
        self.kept = False               # some YAML document survives

    def add(self, documents) -> None:
        for d in documents:
            if d.removed:
                self.removed += 1
                if self.first is None:
                    self.first = d.where()
            elif not d.void:
                self.kept = True

    def refuse_emptied(self) -> None:
        """Rules that delete every resource are an error, not an empty success.

        Helm 4 fails on empty post-renderer output with a message that does not name the cause, and
        in a pipe an empty stream makes `kubectl apply` a silent no-op; so say what happened here.
        Only runs when something was removed: an input that was empty to begin with (Helm 3 with
        --output-dir sends nothing) stays empty with exit 0.
        """
        if not self.removed or self.kept:
            return
        raise RuleError(
            f"the rules removed all {self.removed} resource(s), starting with {self.first}; refusing to "
            "write an empty stream (Helm 4 rejects empty post-renderer output): narrow the target of "
            "the patch that uses `$patch: delete`"
        )
