"""The README's Reliability and Benchmark tables are exactly what their sources say.

``tests/figures.py`` renders both tables from tests/figures.json (the figures the commands
printed), bench/figures.json (bench/run.py --json) and the test counts pytest collects now.  A
README edited by hand, a figure measured with other parameters than the README's command, or a
test added to a counted file without regenerating: each fails here, with the command that fixes
it (``python -m tests.figures --write``, or ``--run full ROW``).
"""

from __future__ import annotations

import json

from tests import figures


def test_the_readme_tables_are_rendered_from_the_figures():
    data, counts, bench = figures.load()
    assert bench is not None, "bench/figures.json is missing: python bench/run.py --json bench/figures.json"
    text = figures.README.read_text()
    assert figures.rendered_readme(text, data, counts, bench) == text, \
        "README.md differs from its figures: python -m tests.figures --write"


def test_every_figure_was_measured_with_the_parameters_of_its_readme_command():
    data = json.loads(figures.FIGURES.read_text())
    assert set(data) == set(figures.FULL), "rows in tests/figures.json and figures.FULL differ"
    for row, params in figures.FULL.items():
        assert data[row]["params"] == params, (
            f"{row}: measured with {data[row]['params']}, the README's command says {params}: "
            f"python -m tests.figures --run full {row}")


def test_each_row_command_runs_the_test_that_reports_the_row():
    """The command shown for a row names the test file whose record() call reports that row."""
    for row in figures.FULL:
        shown, _env, args = figures.command(row, figures.FULL[row])
        source = (figures.ROOT / args[0]).read_text()
        reported = f'record("{row}"' in source or (row.startswith("bytes-") and 'record(f"bytes-{seed}"' in source)
        assert reported, f"{args[0]} does not report {row}"
        assert shown.endswith(" ".join(a if " " not in a else f"'{a}'" for a in args))


def test_a_count_that_differs_from_the_committed_figure_fails_the_test_that_reports_it(monkeypatch):
    """record() with the committed parameters and other counts is an assertion error (the README
    command reproduces its row or fails); with other parameters it only prints."""
    import pytest

    monkeypatch.delenv(figures.OUT_ENV, raising=False)
    committed = json.loads(figures.FIGURES.read_text())["bombs"]
    figures.record("bombs", committed["params"], committed["counts"])
    with pytest.raises(AssertionError, match="regenerate"):
        figures.record("bombs", committed["params"], {**committed["counts"], "refused": -1})
    figures.record("bombs", {"other": 1}, {"refused": -1})
