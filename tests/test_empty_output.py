"""A run never turns a non-empty stream into an empty one (Helm 4 rejects empty output, issue 6)."""

from __future__ import annotations

import pytest

from tests.conftest import write_config

DELETE_DEPLOYMENTS = """rules:
  - patch:
      strategicMerge: |
        $patch: delete
    target: {kind: Deployment}
"""

DEPLOY = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n"
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: keep\n"

CASES = [
    # (id, stream, expected exit, expected stdout or None for "empty + error")
    ("all-deleted", DEPLOY.format(name="a") + "---\n" + DEPLOY.format(name="b"), 3, None),
    ("all-deleted-after-comment", "# Source: c/templates/d.yaml\n" + DEPLOY.format(name="a"), 3, None),
    ("some-kept", CONFIGMAP + "---\n" + DEPLOY.format(name="b"), 0, CONFIGMAP),
    ("empty-input", "", 0, ""),
    ("comment-only-input", "# nothing rendered\n", 0, "# nothing rendered\n"),
]


@pytest.mark.parametrize("case_id,stream,code,expected", CASES, ids=[c[0] for c in CASES])
def test_deleting_every_resource_is_an_error(cli, tmp_path, case_id, stream, code, expected):
    config = write_config(tmp_path, DELETE_DEPLOYMENTS)
    result = cli(["-c", str(config)], stdin=stream.encode())
    assert result.code == code, result.err
    if expected is None:
        assert result.out == b""
        lines = result.err.splitlines()
        assert len(lines) == 1 and "removed all" in lines[0] and "empty stream" in lines[0]
        assert "document 1" in lines[0]
    else:
        assert result.text == expected
        assert result.err == ""
