"""kustomize's own tests for images, patches and selectors, run through postrender and kubectl.

The cases are translations of kustomize v5.7.1's Go tests (tests/kustomize_cases/, format in
tests/kustomize_table.py).  Each case runs through postrender and is compared, as data, with the
output kustomize's test expects; where the case can run under ``kubectl kustomize`` (kustomize
5.7.1), the e2e test runs it there too and compares with the same expected output, so a wrong
transcription fails as well as a wrong implementation.

A case postrender answers differently on purpose names a ``deviation`` (tests/kustomize_table.py
DEVIATIONS, documented in docs/patches.md and docs/images.md) and gives postrender's own output;
for ``order`` that output must equal kustomize's but for list order.  The end of the run prints
the counts per area.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from postrender.errors import EXIT_BAD_INPUT, EXIT_USAGE
from tests.kustomize_table import (
    AREAS,
    DEVIATIONS,
    documents,
    diff_text,
    lists_sorted,
    load_cases,
    record,
    run_kustomize,
    run_postrender,
    same,
)

CASES = load_cases()
ROOT = Path(__file__).resolve().parents[1]
RUNNABLE = [c for c in CASES if not c.unsupported]
ON_KUBECTL = [c for c in CASES if c.kustomize]


def test_the_table():
    """Enough cases, each with an answer, consistent fields, no stale deviation."""
    assert len(CASES) >= 200
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), "case names repeat"
    used = set()
    for c in CASES:
        assert c.area in AREAS, c.id
        if c.unsupported:
            assert c.config is None and c.deviation is None, c.id
            continue
        assert (c.expected is None) != (c.error is None), f"{c.id}: needs exactly one of expected, error"
        assert c.config is not None, c.id
        if c.deviation:
            assert c.deviation in DEVIATIONS, c.id
            assert (c.postrender_expected is None) != (c.postrender_error is None), c.id
            used.add(c.deviation)
        else:
            assert c.postrender_expected is None, c.id
        if not c.kustomize:
            assert c.why, f"{c.id}: say why kubectl cannot run it"
    assert used == set(DEVIATIONS), f"deviations no case shows: {set(DEVIATIONS) - used}"


def test_deviations_are_documented():
    """Each deviation is a row of a deviation table in the docs, with its key."""
    docs = (ROOT / "docs" / "patches.md").read_text() + (ROOT / "docs" / "images.md").read_text()
    for key in DEVIATIONS:
        assert re.search(rf"^\| `{re.escape(key)}` \|", docs, re.MULTILINE), f"docs: no deviation row for {key}"


@pytest.mark.parametrize("case", RUNNABLE, ids=[c.id for c in RUNNABLE])
def test_postrender(case, tmp_path, request):
    if case.pending:
        # strict: once the change the case waits for lands, the XPASS fails until `pending` goes
        request.applymarker(pytest.mark.xfail(reason=case.pending, strict=True))
    got = run_postrender(case, tmp_path)
    try:
        _check_postrender(case, got)
    except AssertionError:
        record("postrender", case, "pending" if case.pending else "fail")
        raise
    record("postrender", case, "deviation" if case.deviation else "pass")


def _check_postrender(case, got) -> None:
    if case.deviation and case.postrender_error is not None:
        assert got.error is not None, f"{case.id}: postrender should refuse ({case.deviation})"
        assert case.postrender_error in got.error, got.error
        return
    if case.error is not None:
        assert got.error is not None, f"{case.id}: kustomize fails ({case.errors}); postrender gave output"
        assert got.exit_code in (EXIT_USAGE, EXIT_BAD_INPUT)
        if case.postrender_error:
            assert case.postrender_error in got.error, got.error
        return
    assert got.error is None, f"{case.id}: {got.error}"
    want = documents(case.postrender_expected if case.deviation else case.expected)
    assert same(got.docs, want), f"{case.id}:\n{diff_text(got.docs, want)}"
    if case.deviation == "order":
        kustomize = documents(case.expected)
        assert not same(got.docs, kustomize), f"{case.id}: the order deviation no longer differs; remove it"
        assert same([lists_sorted(d) for d in got.docs], [lists_sorted(d) for d in kustomize]), \
            f"{case.id}: differs from kustomize by more than list order"


@pytest.mark.e2e
@pytest.mark.parametrize("case", ON_KUBECTL, ids=[c.id for c in ON_KUBECTL])
def test_kubectl_kustomize(case, tmp_path, need_tool):
    kubectl = need_tool("kubectl")
    got = run_kustomize(case, tmp_path, kubectl)
    try:
        if case.error is not None:
            assert got.error is not None, f"{case.id}: kustomize should fail with {case.errors}"
            assert any(e in got.error for e in case.errors), got.error
        else:
            assert got.error is None, got.error
            want = documents(case.expected)
            assert same(got.docs, want), f"{case.id}:\n{diff_text(got.docs, want)}"
    except AssertionError:
        record("kustomize", case, "fail")
        raise
    record("kustomize", case, "ok")
