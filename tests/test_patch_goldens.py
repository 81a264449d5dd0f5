"""Golden outputs of the kind+name pull-secret patch (issue 5), through the real CLI process.

The variable comes from ``--set``, a values file or ``POSTRENDER_VAR_pullSecret``; all three give
the same output, which adds exactly the two ``imagePullSecrets`` lines to ``backend``.  Undefined,
the template renders empty and the output is byte-identical to the input.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from tests.conftest import write_config

INPUT = (Path(__file__).parent / "data" / "pull-secret-input.yaml").read_bytes()
CONFIG = """\
rules:
  - patch:
      strategicMerge: |
        {% if pullSecret is defined %}
        spec:
          template:
            spec:
              imagePullSecrets:
                - name: {{ pullSecret }}
        {% endif %}
    target:
      kind: Deployment
      name: backend
    expect: 1
"""


def changed_lines(before: bytes, after: bytes) -> list[str]:
    return [line for line in difflib.unified_diff(before.decode().splitlines(), after.decode().splitlines(),
                                                  lineterm="", n=0)
            if line[:1] in "+-" and line[:3] not in ("+++", "---")]


@pytest.mark.parametrize("source", ["set", "values", "env"])
def test_pull_secret_from(source, tmp_path, cli, yaml_snapshot):
    cfg = write_config(tmp_path, CONFIG)
    args, env = ["-c", str(cfg)], {}
    if source == "set":
        args += ["--set", "pullSecret=regcred"]
    elif source == "values":
        values = tmp_path / "values.yaml"
        values.write_text("pullSecret: regcred\n")
        args += ["--values", str(values)]
    else:
        env["POSTRENDER_VAR_pullSecret"] = "regcred"
    result = cli(args, INPUT, env=env)
    assert result.code == 0, result.err
    assert changed_lines(INPUT, result.out) == ["+      imagePullSecrets:", "+        - name: regcred"]
    assert result.text == yaml_snapshot


def test_pull_secret_undefined_is_byte_identical(tmp_path, cli, yaml_snapshot):
    result = cli(["-c", str(write_config(tmp_path, CONFIG))], INPUT)
    assert result.code == 0, result.err
    assert result.out == INPUT
    assert result.text == yaml_snapshot


def test_expect_mismatch_exits_1_naming_rule_line_and_count(tmp_path, cli):
    cfg = write_config(tmp_path, CONFIG.replace("name: backend", "name: backend|frontend"))
    result = cli(["-c", str(cfg), "--set", "pullSecret=regcred"], INPUT)
    assert result.code == 1
    assert result.out == b""
    # write_config adds two header lines: the rule entry is on line 4, column 5
    assert f"{cfg}:4:5: rules[0] (patch): expected 1 matching resources, matched 2" in result.err
