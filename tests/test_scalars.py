"""New strings are written so Kubernetes reads them as those strings (postrender.engine.scalars).

``NOT_PLAIN`` lists strings that some reader takes for something else when they are written
plain: go-yaml v2 (what kubectl and Helm read: ``0o17`` is 15, ``y`` is true, ``-_1`` is -1),
YAML 1.1 (``12:30`` is 750) or YAML 1.2 (``0o17``).  The list is written here, by hand, from
docs/semantics.md; it is not derived from postrender's own tables, so a change to
``plain_ok`` or ``kube_yaml.resolve_plain`` that lets one through fails here.  The e2e test
has kubectl read what the pipeline wrote.
"""

from __future__ import annotations

import pytest
import yaml

from postrender.engine import kube_yaml
from postrender.engine.scalars import format_scalar, plain_ok
from tests.conftest import run_rules
from tests.kube_oracle import kubectl_read

# Go's integer prefixes in any case, underscores, leading zeros, floats without digits on one
# side, YAML 1.1 booleans (y/n too), nulls, sexagesimal, the merge key and '='.
NOT_PLAIN = ["0o17", "0O17", "-0o17", "0o022", "0x1F", "0X1F", "0x_1F", "0B101", "0b101", "-0B1", "-_1", "1_",
             "1__0", "1_000", "08", "09.5", "00", "0755", "-.5", ".5", ".5_0", "1.", "1e3", "+1", "y", "Y", "n",
             "N", "yes", "On", "NO", "off", "~", "null", "Null", "true", "12:30", "=", "<<", ".inf", ".nan"]
# Plain text every reader takes for itself stays plain (quoting everything would be correct but
# would rewrite values people read).
PLAIN = ["nginx", "v1.2.3", "0o8", "IfNotPresent", "registry.example.com/app:1.0", "a.b-c", "1.2.3"]


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_a_string_another_reader_takes_for_something_else_is_quoted(text):
    assert not plain_ok(text), f"{text!r} would be written plain"
    written = format_scalar(text)
    assert written[0] in "'\"", written
    # Quoted scalars mean the same to every YAML reader: PyYAML is enough to read one back.
    assert yaml.safe_load(f"v: {written}")["v"] == text


@pytest.mark.parametrize("text", PLAIN)
def test_a_string_every_reader_takes_for_itself_stays_plain(text):
    assert plain_ok(text) and format_scalar(text) == text


def test_every_example_kubernetes_reads_as_another_value_is_in_the_list():
    """The module's own examples of Go readings: each non-string is quoted too."""
    others = [text for text, value in kube_yaml.EXAMPLES if not (type(value) is str and value == text)]
    assert others and all(not plain_ok(text) for text in others), [t for t in others if plain_ok(t)]


PATCH = "rules:\n- patch:\n    merge:\n      metadata:\n        annotations:\n" + "".join(
    f"          l{i}: {format_scalar(text)}\n" for i, text in enumerate(NOT_PLAIN))
STREAM = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  annotations:\n    keep: x\n"


def test_the_pipeline_writes_each_as_a_quoted_string():
    out = run_rules(PATCH, STREAM).output.decode()
    lines = {line.strip().split(":", 1)[0]: line.strip().split(": ", 1)[1] for line in out.splitlines()
             if line.strip().startswith("l") and ": " in line}
    for i, text in enumerate(NOT_PLAIN):
        assert lines[f"l{i}"][0] in "'\"" and yaml.safe_load(lines[f"l{i}"]) == text, (text, lines[f"l{i}"])


@pytest.mark.e2e
def test_kubectl_reads_each_written_value_as_the_string(need_tool, tmp_path):
    kubectl = need_tool("kubectl")
    (tmp_path / "out.yaml").write_bytes(run_rules(PATCH, STREAM).output)
    objects, error = kubectl_read(kubectl, tmp_path / "out.yaml")
    assert error is None, error
    annotations = objects[0]["metadata"]["annotations"]
    assert annotations == {"keep": "x"} | {f"l{i}": text for i, text in enumerate(NOT_PLAIN)}
