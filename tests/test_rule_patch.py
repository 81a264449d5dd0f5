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
        # kustomize: with a target, the resource keeps its name (the patch's is ignored)
        STREAM,
        id="name-ignored-with-target",
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
        # kustomize applies a JSON patch as it is: kind changes without allowKindChange
        replaced(STREAM, ("kind: Deployment\nmetadata:\n  name: frontend", "kind: StatefulSet\nmetadata:\n  name: frontend")),
        id="json6902-changes-kind",
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
                    " path, found strategicMerge, merge"),
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
    out = run(f"rules:\n  - patch:\n      {patch}\n    target: {{kind: Service}}\n", data=WHOLE_MAP_INPUT)
    old_lines, new_lines = WHOLE_MAP_INPUT.splitlines(), out.splitlines()
    assert new_lines[:5] == old_lines[:5]
    assert new_lines[5].startswith("    team: platform")
    assert new_lines[6:] == old_lines[7:]


# ---- kustomize's identity rules, patch files, several documents (issue 12) -------------------

IDENTITY_CASES = [
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: |
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: frontend
        spec:
          replicas: 2
""",
        # no target: only the Deployment the patch names (not backend, not the Service); a new
        # key goes after the mapping's last one
        replaced(STREAM, ("          image: repo/web:3\n", "          image: repo/web:3\n  replicas: 2\n")),
        id="identity-selects-the-named-resource",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: |
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: backend}
        spec: {replicas: 4}
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: backend}
        spec: {type: NodePort}
""",
        replaced(STREAM, ("  replicas: 1\n", "  replicas: 4\n"),
                 ("spec:\n  ports:\n    - port: 80\n", "spec:\n  ports:\n    - port: 80\n  type: NodePort\n")),
        id="several-documents-each-by-identity",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: |
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: ignored
          namespace: elsewhere
        spec:
          replicas: 5
    target: {kind: Deployment, name: backend}
""",
        # under a target the patch's name and namespace are kustomize's placeholders
        replaced(STREAM, ("  replicas: 1\n", "  replicas: 5\n")),
        id="target-keeps-name-and-namespace",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: |
        apiVersion: apps/v1
        kind: StatefulSet
        metadata: {name: frontend-2}
      allowNameChange: true
      allowKindChange: true
    target: {kind: Deployment, name: frontend}
  - patch:
      strategicMerge: |
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: frontend}
        spec: {replicas: 9}
""",
        # the second patch names the resource as it was before the first renamed it (kustomize's PrevIds)
        replaced(STREAM, ("kind: Deployment\nmetadata:\n  name: frontend\n", "kind: StatefulSet\nmetadata:\n  name: frontend-2\n"),
                 ("          image: repo/web:3\n", "          image: repo/web:3\n  replicas: 9\n")),
        id="identity-matches-the-name-before-a-rename",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: |
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: backend, namespace: prod}
        spec: {replicas: 2}
""",
        RuleError("test.yaml:4:5: rules[0] (patch): document 1 of the patch names Deployment/prod/backend (apps/v1);"
                  " no resource in the stream has that identity"),
        id="identity-without-match-is-an-error",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: |
        apiVersion: v1
        kind: Deployment
        metadata: {name: backend}
""",
        RuleError("test.yaml:4:5: rules[0] (patch): document 1 of the patch names Deployment/backend (v1);"),
        id="identity-compares-group-and-version",
    ),
    pytest.param(
        "rules:\n  - patch:\n      strategicMerge: \"  \"\n",
        ConfigError("test.yaml:5:7: rules[0].patch.strategicMerge: the patch is blank"),
        id="blank-patch",
    ),
    pytest.param(
        "rules:\n  - patch:\n      json6902: [{op: remove, path: /spec/replicas}]\n",
        ConfigError("test.yaml:4:5: rules[0].patch: a json6902 patch needs a target:"),
        id="json6902-needs-a-target",
    ),
    pytest.param(
        """\
rules:
  - patch:
      json6902: |
        - {op: remove, path: /spec/replicas}
        ---
        - {op: remove, path: /spec/template}
    target: {kind: Deployment}
""",
        ConfigError("test.yaml:5:7: rules[0].patch.json6902: the json6902 patch holds more than one YAML document"),
        id="json6902-several-documents-refused",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: |
        spec: {replicas: 2}
        ---
        spec: {replicas: 3}
    target: {kind: Deployment}
""",
        ConfigError("test.yaml:4:5: rules[0].patch: 2 strategic-merge documents and a target"),
        id="target-with-several-documents-refused",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: |
        spec:
          template:
            spec:
              containers:
                - $patch: replace
                - name: only
                  image: repo/only:1
    target: {kind: Deployment, name: backend}
""",
        replaced(STREAM, ('''        - name: api
          image: "repo/api:1.0"   # pinned
          env:
            - name: A
              value: "1"
        - name: sidecar
          image: repo/side:2
''', '''        - name: only
          image: repo/only:1
''')),
        id="list-replace-directive",
    ),
    pytest.param(
        """\
rules:
  - patch:
      strategicMerge: |
        spec:
          template:
            spec:
              imagePullSecrets:
                - $patch: delete
    target: {kind: Deployment, name: frontend}
""",
        replaced(STREAM, ("      imagePullSecrets:\n        - name: existing\n", "")),
        id="list-delete-directive-removes-the-key",
    ),
]


@pytest.mark.parametrize("rules, expected", IDENTITY_CASES)
def test_identity_and_documents(rules, expected):
    test_patch_rule(rules, {}, expected)


def test_expect_counts_the_resources_a_patch_identifies():
    rules = """\
rules:
  - patch:
      strategicMerge: |
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: backend}
        spec: {replicas: 3}
    expect: 1
"""
    assert run(rules) == replaced(STREAM, ("  replicas: 1\n", "  replicas: 3\n"))


PORTS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
        - name: c
          ports:
            - containerPort: 8080
              protocol: TCP
            - containerPort: 9090
"""


@pytest.mark.parametrize("ports, expected", [
    # 8080/UDP is another port than 8080/TCP (kustomize matches containerPort and protocol)
    ("- {containerPort: 8080, protocol: UDP}",
     PORTS + "            - containerPort: 8080\n              protocol: UDP\n"),
    # no protocol in the patch: the port of that number
    ("- {containerPort: 8080, name: http}",
     PORTS.replace("              protocol: TCP\n", "              protocol: TCP\n              name: http\n")),
    # no protocol in the original: the patch's protocol joins it
    ("- {containerPort: 9090, protocol: TCP}",
     PORTS + "              protocol: TCP\n"),
], ids=["other-protocol-is-added", "missing-protocol-matches", "protocol-added-to-match"])
def test_ports_merge_by_port_and_protocol(ports, expected):
    patch = ("spec:\n  template:\n    spec:\n      containers:\n        - name: c\n          ports:\n"
             + "\n".join("            " + line for line in ports.splitlines()) + "\n")
    rules = "rules:\n  - patch:\n      strategicMerge: |\n" + "\n".join("        " + line for line in patch.splitlines()) \
        + "\n    target: {kind: Deployment}\n"
    assert run(rules, data=PORTS) == expected


ROLLOUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: r
spec:
  template:
    spec:
      containers:
        - name: app
          image: app:1
        - name: side
          image: side:1
"""


@pytest.mark.parametrize("kind", ["Deployment", None], ids=["patch-names-deployment", "pod-spec-table"])
def test_crd_pod_specs_merge_by_name(kind):
    """A Rollout has no schema: the kind the patch names (kustomize), else the pod-spec table."""
    head = f"        apiVersion: apps/v1\n        kind: {kind}\n        metadata: {{name: x}}\n" if kind else ""
    rules = ("rules:\n  - patch:\n      strategicMerge: |\n" + head
             + "        spec:\n          template:\n            spec:\n              containers:\n"
             + "                - name: side\n                  image: side:2\n    target: {kind: Rollout}\n")
    assert run(rules, data=ROLLOUT) == ROLLOUT.replace("side:1", "side:2")


def test_patch_files(tmp_path):
    (tmp_path / "patches").mkdir()
    (tmp_path / "patches" / "replicas.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: backend\nspec:\n  replicas: 7\n")
    (tmp_path / "patches" / "ops.json").write_text('[{"op": "add", "path": "/spec/type", "value": "NodePort"}]')
    (tmp_path / "patches" / "empty.yaml").write_text("# nothing yet\n")
    (tmp_path / "patches" / "labels.yaml").write_text("metadata:\n  labels:\n    team: web\n")
    rules = """\
rules:
  - patch: {path: patches/replicas.yaml}
  - patch: {path: patches/ops.json}
    target: {kind: Service}
  - patch: {path: patches/empty.yaml}
    target: {kind: Service}
  - patch:
      strategicMerge: {path: patches/labels.yaml}
    target: {kind: Deployment, name: frontend}
  - patch:
      json6902: {path: patches/ops.json}
    target: {kind: Deployment, name: frontend}
"""
    out = run(rules, base_dir=tmp_path)
    assert out == replaced(STREAM, ("  replicas: 1\n", "  replicas: 7\n"),
                           ("spec:\n  ports:\n    - port: 80\n", "spec:\n  ports:\n    - port: 80\n  type: NodePort\n"),
                           ("  name: frontend\nspec:\n", "  name: frontend\n  labels:\n    team: web\nspec:\n"),
                           ("          image: repo/web:3\n", "          image: repo/web:3\n  type: NodePort\n"))


def test_strategic_merge_documents_as_a_list():
    rules = """\
rules:
  - patch:
      strategicMerge:
        - {apiVersion: apps/v1, kind: Deployment, metadata: {name: backend}, spec: {replicas: 4}}
        - {apiVersion: apps/v1, kind: Deployment, metadata: {name: frontend}, spec: {replicas: 5}}
"""
    assert run(rules) == replaced(STREAM, ("  replicas: 1\n", "  replicas: 4\n"),
                                  ("          image: repo/web:3\n", "          image: repo/web:3\n  replicas: 5\n"))


@pytest.mark.parametrize("path, message", [
    ("../outside.yaml", "is outside the config file's directory"),
    ("missing.yaml", "patch file 'missing.yaml' not found"),
])
def test_patch_file_errors(tmp_path, path, message):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "outside.yaml").write_text("spec: {replicas: 2}\n")
    with pytest.raises(ConfigError) as info:
        run(f"rules:\n  - patch: {{path: {path}}}\n    target: {{kind: Service}}\n", base_dir=tmp_path / "cfg")
    assert "test.yaml:4:13: rules[0].patch.path: " in str(info.value)
    assert message in str(info.value)


def test_json6902_under_missing_annotations_as_kustomize():
    """kustomize's resources carry internal annotations, so /metadata/annotations exists there."""
    rules = ("rules:\n  - patch:\n      json6902:\n        - {op: add, path: /metadata/annotations/team, value: web}\n"
             "    target: {kind: Service}\n")
    assert run(rules) == replaced(STREAM, ("  name: backend\nspec:\n  ports", "  name: backend\n  annotations:\n    team: web\nspec:\n  ports"))
    untouched = ("rules:\n  - patch:\n      json6902:\n        - {op: test, path: /metadata/annotations/team, value: null}\n"
                 "    target: {kind: Service}\n")
    assert run(untouched) == STREAM  # the map it saw is dropped again
