"""The patch rule, table-driven: input text + rule -> exact output text (or one-line error).

Expected texts are written from the semantics (kustomize's patches, RFC 6902/7386, issue 5's
text-minimality), not from running the code.
"""

from __future__ import annotations

import pytest

from postrender.errors import CheckFailed, ConfigError, RuleError
from tests.conftest import run_rules


STREAM = """\
---
# Source: app/templates/backend.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: backend
  labels:
    app: backend
spec:
  replicas: 1
  template:
    spec:
      containers:
        - name: api
          image: "repo/api:1.0"   # pinned
          env:
            - name: A
              value: "1"
        - name: sidecar
          image: repo/side:2
---
# Source: app/templates/frontend.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: frontend
spec:
  template:
    spec:
      imagePullSecrets:
        - name: existing
      containers:
        - name: web
          image: repo/web:3
---
apiVersion: v1
kind: Service
metadata:
  name: backend
spec:
  ports:
    - port: 80
"""


def run(rules: str, data: str = STREAM, **kw) -> str:
    return run_rules(rules, data, **kw).output.decode()


def replaced(text: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


PULL_SECRET = """\
rules:
  - patch:
      strategicMerge: |
        {% if pullSecret is defined and not resource.spec.template.spec.imagePullSecrets %}
        spec:
          template:
            spec:
              imagePullSecrets:
                - name: {{ pullSecret }}
        {% endif %}
    target: {kind: Deployment}
"""

CASES = [
    pytest.param(
        PULL_SECRET, {"sets": ["pullSecret=regcred"]},
        # backend gets it (new key after the last key of its pod spec); frontend already has one
        replaced(STREAM, ("          image: repo/side:2\n",
                          "          image: repo/side:2\n      imagePullSecrets:\n        - name: regcred\n")),
        id="pull-secret-resource-conditional",
    ),
    pytest.param(PULL_SECRET, {}, STREAM, id="renders-empty-no-op"),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: |
        spec:
          template:
            spec:
              containers:
                - name: sidecar
                  image: repo/side:3
    target: {kind: Deployment, name: backend}
""", {},
        # the patched container stays second (kustomize would move it first): one line changes
        replaced(STREAM, ("image: repo/side:2", "image: repo/side:3")),
        id="container-image-by-name-keeps-position",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge:
        spec:
          template:
            spec:
              containers:
                - name: api
                  env:
                    - {name: B, value: "2"}
                    - {name: A, $patch: delete}
    target: {kind: Deployment, name: back.*}
""", {},
        replaced(STREAM, ('            - name: A\n              value: "1"\n', '            - name: B\n              value: "2"\n')),
        id="env-add-and-delete-literal-mapping",
    ),
    pytest.param(
        """\
rules:
  - patch:
      json6902:
        - {op: test, path: /spec/replicas, value: 1}
        - {op: replace, path: /spec/replicas, value: 3}
        - {op: add, path: /metadata/labels/tier, value: api}
    target: {kind: Deployment, labelSelector: app=backend}
""", {},
        replaced(STREAM, ("  replicas: 1\n", "  replicas: 3\n"),
                 ("    app: backend\nspec:", "    app: backend\n    tier: api\nspec:")),
        id="json6902-list-label-selector",
    ),
    pytest.param(
        """\
rules:
  - patch:
      json6902: |
        - op: replace
          path: /spec/ports/0/port
          value: {{ port | int }}
    target: {kind: Service}
""", {"sets": ["port=8080"]},
        replaced(STREAM, ("    - port: 80\n", "    - port: 8080\n")),
        id="json6902-template",
    ),
    pytest.param(
        """\
rules:
  - patch:
      merge:
        metadata:
          labels: null
        spec:
          replicas: 2
    target: {kind: Deployment, name: backend}
""", {},
        replaced(STREAM, ("  labels:\n    app: backend\n", ""), ("  replicas: 1\n", "  replicas: 2\n")),
        id="merge-patch-null-deletes",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: |
        $patch: delete
    target: {kind: Service}
""", {},
        STREAM[: STREAM.index("---\napiVersion: v1\nkind: Service")],
        id="patch-delete-removes-document",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: |
        metadata:
          annotations:
            replicas-seen: "{{ resource.spec.replicas }}"
    target: {kind: Deployment, name: backend}
""", {},
        replaced(STREAM, ("    app: backend\nspec:", "    app: backend\n  annotations:\n    replicas-seen: '1'\nspec:")),
        id="resource-variable-value",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: |
        metadata:
          name: renamed
    target: {kind: Service}
""", {},
        RuleError("test.yaml:4:5: rules[0] (patch): document 3: Service/backend: the patch changes metadata.name"
                  " from 'backend' to 'renamed'; set allowNameChange: true if that is intended"),
        id="name-change-refused",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: |
        metadata:
          name: renamed
      allowNameChange: true
    target: {kind: Service}
""", {},
        replaced(STREAM, ("  name: backend\nspec:\n  ports", "  name: renamed\nspec:\n  ports")),
        id="name-change-allowed",
    ),
    pytest.param(
        """\
rules:
  - patch:
      json6902:
        - {op: replace, path: /kind, value: StatefulSet}
    target: {kind: Deployment, name: frontend}
""", {},
        RuleError("test.yaml:4:5: rules[0] (patch): document 2 (app/templates/frontend.yaml): Deployment/frontend:"
                  " the patch changes kind from 'Deployment' to 'StatefulSet'; set allowKindChange: true if that is intended"),
        id="kind-change-refused",
    ),
    pytest.param(
        """\
rules:
  - patch:
      json6902:
        - {op: test, path: /spec/replicas, value: 5}
    target: {kind: Deployment, name: backend}
""", {},
        RuleError("test.yaml:4:5: rules[0] (patch): document 1 (app/templates/backend.yaml): Deployment/backend:"
                  " json6902[0] (test /spec/replicas):"),
        id="json6902-test-fails",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: |
        spec: {{ '{' }}
    target: {kind: Service}
""", {},
        RuleError("test.yaml:4:5: rules[0] (patch): document 3: Service/backend: the rendered strategicMerge patch is not valid YAML: line 2:"),
        id="rendered-bad-yaml",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: |
        metadata: {labels: {x: "{{ nope }}"}}
    target: {kind: Service}
""", {},
        ConfigError("test.yaml:4:5: rules[0] (patch): document 3: Service/backend: 'nope' is undefined"),
        id="undefined-variable-is-an-error",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: "spec: {replicas: 2}"
      merge: {spec: {replicas: 2}}
""", {},
        ConfigError("test.yaml:4:5: rules[0].patch: needs exactly one of strategicMerge, json6902, merge,"
                    " found strategicMerge, merge"),
        id="two-patch-kinds",
    ),
    pytest.param(
        """\
rules:
  - patch:
      json6902: {op: add}
""", {},
        ConfigError("test.yaml:5:7: rules[0].patch.json6902: must be a list of operations"),
        id="json6902-not-a-list",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: "{% if x %}"
""", {},
        ConfigError("test.yaml:5:7: rules[0].patch.strategicMerge: invalid Jinja template (line 1): Unexpected end of template"),
        id="jinja-syntax-at-load-time",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: {spec: {replicas: 9}}
    target: {kind: Deployment}
    expect: 1
""", {},
        CheckFailed("test.yaml:4:5: rules[0] (patch): expected 1 matching resources, matched 2"),
        id="expect-mismatch",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: "$patch: delete"
    target: {kind: Service}
    expect: ">=1"
""", {},
        # counted before the patch runs: the deleted Service was matched
        STREAM[: STREAM.index("---\napiVersion: v1\nkind: Service")],
        id="expect-counts-before-delete",
    ),
]


@pytest.mark.parametrize("rules, kw, expected", CASES)
def test_patch_rule(rules, kw, expected):
    if isinstance(expected, Exception):
        with pytest.raises(type(expected)) as info:
            run(rules, **kw)
        assert str(info.value).startswith(str(expected)), str(info.value)
        assert "\n" not in str(info.value)
    else:
        assert run(rules, **kw) == expected


def test_resource_variable_is_a_copy():
    """A template cannot change the resource through ``resource`` (mutating methods are refused
    by the sandbox or act on a copy); the output is unchanged."""
    rules = """\
rules:
  - patch:
      strategicMerge: |
        {% set _ = resource.metadata.update({"name": "x"}) %}
    target: {kind: Service}
"""
    try:
        out = run(rules)
    except RuleError as exc:
        assert "sandbox" in str(exc) or "unsafe" in str(exc), exc
    else:
        assert out == STREAM


def test_list_item_delete_keeps_the_list():
    data = """\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: a}
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: b}
"""
    out = run("rules:\n  - patch: {strategicMerge: {$patch: delete}}\n    target: {name: a}\n", data)
    assert out == """\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata: {name: b}
"""


# Every old key of a mapping replaced: only that mapping's lines change; the sequences elsewhere
# keep their own indentation styles (the whole-document fallback used to re-indent them).
WHOLE_MAP_INPUT = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  labels:
    app: web   # set by the chart
    tier: "on"
spec:
  ports:
    - port: 80
  selector:
    app: web
  externalIPs:
  - 10.0.0.1
"""


@pytest.mark.parametrize("patch", [
    "merge: {metadata: {labels: {app: null, tier: null, team: platform}}}",
    "json6902: [{op: replace, path: /metadata/labels, value: {team: platform}}]",
    "strategicMerge: {metadata: {labels: {$patch: replace, team: platform}}}",
], ids=["merge", "json6902", "strategic-replace"])
def test_replacing_every_key_of_a_mapping_changes_only_its_lines(patch):
    out = run(f"rules:\n  - patch:\n      {patch}\n", data=WHOLE_MAP_INPUT)
    old_lines, new_lines = WHOLE_MAP_INPUT.splitlines(), out.splitlines()
    assert new_lines[:5] == old_lines[:5]
    assert new_lines[5].startswith("    team: platform")
    assert new_lines[6:] == old_lines[7:]
