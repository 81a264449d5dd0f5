"""Image discovery (images/discovery.py, issue 13): each discovery rule, what generic discovery
must not take, excluded paths, and the text pre-filter, which may only ever say "maybe".

Expected locations are written out by hand from the documented rules; the pre-filter is checked
against full discovery on generated documents (every scalar style, escapes included) and on
every document of the corpus.
"""

from __future__ import annotations

import json
import random
import re
import textwrap

import pytest
from hypothesis import given, settings, strategies as st

from postrender.engine.stream import parse_stream
from postrender.errors import ConfigError
from postrender.images.discovery import (
    NO_IMAGE_KINDS,
    ImageTable,
    inventory,
    is_generic_image,
    may_hold_images,
    render_inventory,
)
from postrender.images.suspects import find_references, suspects
from postrender.kinds import PodSpecTable, resources
from tests.conftest import STRESS, corpus_required
from tests.imagetest_util import config

SHA = "sha256:" + "ab" * 32


def found(doc_yaml: str, extra: str = "") -> list[tuple[str, object, str, str]]:
    """(path, value, discovery rule, via) of every location in a one-document stream."""
    cfg = config("[]\n", extra)
    stream = parse_stream(textwrap.dedent(doc_yaml).encode())
    return [(f.path, f.image, f.discovery, f.via) for f in inventory(stream.documents, ImageTable.of(cfg))]


# ---- each discovery rule ------------------------------------------------------------------------

RULE_CASES = {
    "podSpec: containers, init, ephemeral; args/env inside": ("""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: d}
        spec:
          template:
            spec:
              initContainers: [{name: i, image: busybox}]
              containers:
                - name: c
                  image: nginx:1.27
                  args: [--helper-image=quay.io/x/helper:1]
                  env: [{name: SIDECAR_IMAGE, value: ghcr.io/x/side:2}]
              ephemeralContainers: [{name: e, image: alpine}]
        """, [
        ("spec.template.spec.initContainers[0].image", "busybox", "podSpec", "field"),
        ("spec.template.spec.containers[0].image", "nginx:1.27", "podSpec", "field"),
        ("spec.template.spec.containers[0].args[0]", "quay.io/x/helper:1", "podSpec", "arg"),
        ("spec.template.spec.containers[0].env[0].value", "ghcr.io/x/side:2", "podSpec", "env"),
        ("spec.template.spec.ephemeralContainers[0].image", "alpine", "podSpec", "field"),
    ]),
    "imageVolume": ("""
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers: [{name: c, image: app}]
          volumes: [{name: v, image: {reference: quay.io/x/data:1}}]
        """, [
        ("spec.containers[0].image", "app", "podSpec", "field"),
        ("spec.volumes[0].image.reference", "quay.io/x/data:1", "imageVolume", "field"),
    ]),
    "imageVolume: any volumes list of an unknown kind (kustomize's image-volume test, v1 Deployment)": ("""
        apiVersion: v1
        kind: Deployment
        metadata: {name: d}
        spec:
          template:
            spec:
              volumes:
                - {name: v, image: {reference: nginx}}
                - {name: e, image: {reference: ""}}
                - {name: c, configMap: {name: x}}
        """, [("spec.template.spec.volumes[0].image.reference", "nginx", "imageVolume", "field")]),
    "imageField: a table entry is taken even when invalid": ("""
        apiVersion: monitoring.coreos.com/v1
        kind: Prometheus
        metadata: {name: k8s}
        spec:
          image: "NOT VALID"
          thanos: {image: quay.io/thanos/thanos:v0.39.2}
        """, [
        ("spec.image", "NOT VALID", "imageField", "field"),
        ("spec.thanos.image", "quay.io/thanos/thanos:v0.39.2", "imageField", "field"),
    ]),
    "imageField: a field not named image (CNPG imageName)": ("""
        apiVersion: postgresql.cnpg.io/v1
        kind: Cluster
        metadata: {name: pg}
        spec: {imageName: ghcr.io/cloudnative-pg/postgresql:17.5}
        """, [("spec.imageName", "ghcr.io/cloudnative-pg/postgresql:17.5", "imageField", "field")]),
    "containers: any depth of an unknown kind, with its args": ("""
        apiVersion: example.com/v1
        kind: Runner
        metadata: {name: r}
        spec:
          pool:
            - template:
                containers:
                  - {name: a, image: "registry.example.com/a:1", args: ["--b-image=registry.example.com/b:2"]}
                initContainers:
                  - {name: i, image: busybox}
        """, [
        ("spec.pool[0].template.containers[0].image", "registry.example.com/a:1", "containers", "field"),
        ("spec.pool[0].template.containers[0].args[0]", "registry.example.com/b:2", "containers", "arg"),
        ("spec.pool[0].template.initContainers[0].image", "busybox", "containers", "field"),
    ]),
    "containers: an invalid image of a container list is still a container image": ("""
        apiVersion: example.com/v1
        kind: Runner
        metadata: {name: r}
        spec: {containers: [{name: a, image: "{{ .Values.image }}"}]}
        """, [("spec.containers[0].image", "{{ .Values.image }}", "containers", "field")]),
    "imageKey: any depth, env of the same mapping too": ("""
        apiVersion: monitoring.grafana.com/v1alpha1
        kind: Whatever
        metadata: {name: w}
        spec:
          agent:
            image: docker.io/grafana/agent:v0.44.2
            env: [{name: RELOADER_IMAGE, value: "quay.io/x/reloader:1"}]
          steps:
            - {name: s, image: golang:1.23}
        """, [
        ("spec.agent.image", "docker.io/grafana/agent:v0.44.2", "imageKey", "field"),
        ("spec.agent.env[0].value", "quay.io/x/reloader:1", "imageKey", "env"),
        ("spec.steps[0].image", "golang:1.23", "imageKey", "field"),
    ]),
    "imageKey: invalid values, placeholders, non-strings and other keys are not images": ("""
        apiVersion: example.com/v1
        kind: Thing
        metadata: {name: t}
        spec:
          a: {image: "Not Valid"}
          b: {image: default}
          c: {image: "true"}
          d: {image: {repository: nginx, tag: "1.27"}}
          e: {image: 42}
          f: {images: [nginx]}
          g: {Image: nginx}
          h: {image: ""}
        """, []),
    "one location once: a table field is not found again by generic rules": ("""
        apiVersion: monitoring.coreos.com/v1
        kind: Alertmanager
        metadata: {name: main}
        spec:
          image: quay.io/prometheus/alertmanager:v0.33.0
          containers: [{name: extra, image: busybox}]
        """, [
        ("spec.image", "quay.io/prometheus/alertmanager:v0.33.0", "imageField", "field"),
        ("spec.containers[0].image", "busybox", "imageField", "field"),
    ]),
    "List items: each item by its own kind": ("""
        apiVersion: v1
        kind: List
        items:
          - {apiVersion: v1, kind: ConfigMap, metadata: {name: c}, data: {image: busybox}}
          - {apiVersion: example.com/v1, kind: X, metadata: {name: x}, spec: {image: nginx}}
        """, [("items[1].spec.image", "nginx", "imageKey", "field")]),
}


@pytest.mark.parametrize("doc,expected", RULE_CASES.values(), ids=RULE_CASES.keys())
def test_each_discovery_rule(doc, expected):
    assert found(doc) == expected


# ---- what generic discovery does not take ---------------------------------------------------------

NOT_TAKEN = {
    "CRD schema": """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata: {name: xs.example.com}
        spec:
          versions:
            - name: v1
              schema:
                openAPIV3Schema:
                  properties:
                    image: {type: string, default: "quay.io/x/y:1"}
                    containers: {type: array, items: {properties: {image: {default: busybox}}}}
        """,
    "ConfigMap data": """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: c}
        data: {image: "busybox:1.36", values.yaml: "image: nginx"}
        """,
    "Secret stringData": """
        apiVersion: v1
        kind: Secret
        metadata: {name: s}
        stringData: {image: "busybox:1.36"}
        """,
    "annotations, labels and metadata at any depth": """
        apiVersion: example.com/v1
        kind: Thing
        metadata:
          name: t
          annotations: {image: "busybox:1.36"}
        spec:
          podMetadata:
            annotations: {image: "busybox:1.36"}
            labels: {image: busybox}
          template:
            metadata: {image: busybox}
        """,
    "top-level status": """
        apiVersion: example.com/v1
        kind: Thing
        metadata: {name: t}
        status: {image: "busybox:1.36", containers: [{image: nginx}]}
        """,
    "Kyverno policy patterns": """
        apiVersion: kyverno.io/v1
        kind: ClusterPolicy
        metadata: {name: no-latest}
        spec:
          rules:
            - name: r
              validate:
                pattern:
                  spec:
                    containers: [{image: "nginx:latest"}]
        """,
}


@pytest.mark.parametrize("doc", NOT_TAKEN.values(), ids=NOT_TAKEN.keys())
def test_generic_discovery_does_not_take(doc):
    assert found(doc) == []


def test_a_configmap_named_in_the_no_image_table_is_skipped_by_group_and_kind_not_kind_alone():
    # A Knative Service is not a core Service.
    assert ("", "Service") in NO_IMAGE_KINDS
    assert found("""
        apiVersion: serving.knative.dev/v1
        kind: Service
        metadata: {name: hello}
        spec:
          template:
            spec:
              containers: [{image: ghcr.io/knative/helloworld-go:latest}]
        """) == [("spec.template.spec.containers[0].image", "ghcr.io/knative/helloworld-go:latest", "podSpec", "field")]


@pytest.mark.parametrize("value,taken", [
    ("nginx", True), ("docker.io/grafana/agent:v0.44.2", True), (f"x/y@{SHA}", True),
    ("default", False), ("None", False), ("true", False), ("42", False), ("Not Valid", False), ("", False),
    (None, False), (["nginx"], False),
])
def test_image_key_values(value, taken):
    assert is_generic_image(value) is taken


# ---- configuration: generic off, excluded paths ----------------------------------------------------

CR = """
    apiVersion: helm.toolkit.fluxcd.io/v2
    kind: HelmRelease
    metadata: {name: app}
    spec:
      values:
        image: nginx:1.27
        sidecar: {image: busybox}
      postRenderers: [{kustomize: {images: [{name: nginx}]}}]
      test: {image: alpine}
    """


def test_generic_discovery_can_be_turned_off():
    assert [p for p, *_ in found(CR)] == ["spec.values.image", "spec.values.sidecar.image", "spec.test.image"]
    assert found(CR, "imageDiscovery: {generic: false}\n") == []


@pytest.mark.parametrize("exclude,left", [
    ("{kind: HelmRelease, path: spec.values}", ["spec.test.image"]),
    ("{kind: HelmRelease, group: helm.toolkit.fluxcd.io, path: spec.values.sidecar}", ["spec.values.image", "spec.test.image"]),
    ("{kind: HelmRelease, group: example.com, path: spec.values}", ["spec.values.image", "spec.values.sidecar.image", "spec.test.image"]),
    ("{path: spec.*.image}", ["spec.values.sidecar.image"]),
    ("{kind: Other, path: spec}", ["spec.values.image", "spec.values.sidecar.image", "spec.test.image"]),
])
def test_excluded_paths(exclude, left):
    assert [p for p, *_ in found(CR, f"imageDiscovery:\n  exclude:\n    - {exclude}\n")] == left


def test_excluded_list_items_and_known_locations():
    deploy = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: d}
        spec:
          template:
            spec:
              containers:
                - {name: a, image: a, args: ["--x-image=b"]}
                - {name: c, image: c}
        """
    extra = "imageDiscovery:\n  exclude:\n    - {kind: Deployment, path: 'spec.template.spec.containers[].args'}\n"
    assert [p for p, *_ in found(deploy, extra)] == ["spec.template.spec.containers[0].image",
                                                      "spec.template.spec.containers[1].image"]


@pytest.mark.parametrize("entry,message", [
    ("{path: 'spec..x'}", "imageDiscovery.exclude[0].path: empty component"),
    ("{path: 'spec.x[0]'}", "imageDiscovery.exclude[0].path: 'x[0]': only [] (every item)"),
    ("{kind: X}", "imageDiscovery.exclude[0]: missing required option 'path'"),
])
def test_bad_exclusions_are_config_errors(entry, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config("[]\n", f"imageDiscovery:\n  exclude:\n    - {entry}\n")


# ---- the text pre-filter: only ever a false "maybe" --------------------------------------------------

ESCAPED_SPELLINGS = [
    '"\\x69mage": busybox',
    '"\\u0069mage": busybox',
    '"\\U00000069mage": busybox',
    '? "ima\\\n  ge"\n: busybox',
    '? "im\\x61ge"\n: busybox',
    'x: {"\\x63ontainers": [{"\\x69mage": busybox}]}',
]


@pytest.mark.parametrize("spelling", ESCAPED_SPELLINGS)
def test_escaped_spellings_are_maybe_and_found(spelling):
    text = "apiVersion: example.com/v1\nkind: Thing\nmetadata: {name: t}\nspec:\n" + textwrap.indent(spelling, "  ") + "\n"
    doc = parse_stream(text.encode()).documents[0]
    table = ImageTable(PodSpecTable())
    assert table.visits(doc)
    assert [loc.value for _, r in resources(doc.obj) for loc in table.locations(r)] == ["busybox"]


@pytest.mark.parametrize("text,maybe", [
    ("spec: {replicas: 2}", False),
    ("rules: [{expr: 'up == 0'}]", False),
    ("spec: {image: x}", True),
    ("spec: {initContainers: []}", True),
    ('spec: {"\\x69mage": x}', True),                 # an escape
    ("spec: {x: !!binary aW1hZ2U=}", True),            # a tag that may decode to anything
    ("spec: {x: !<tag:yaml.org,2002:binary> aW1hZ2U=}", True),
    ("%TAG !e! tag:yaml.org,2002:\n---\nspec: {x: !e!binary aW1hZ2U=}", True),
    ("spec: {expr: 'a != b', msg: hello!}", False),    # an exclamation mark is no tag
])
def test_may_hold_images(text, maybe):
    assert may_hold_images(text) is maybe


_WORDS = ["image", "containers", "initContainers", "name", "spec", "args", "env", "value", "template", "x",
          "imagePullPolicy", "Image", "labels"]
_VALUES = ["busybox", "quay.io/org/app:1", "--a-image=quay.io/b/c:2", "plain words", "true", "", "ghcr.io/x/y"]


def _double_quoted(text: str, rng: random.Random) -> str:
    out = []
    for ch in text:
        roll = rng.random()
        if roll < 0.25:
            out.append(f"\\x{ord(ch):02x}")
        elif roll < 0.35:
            out.append(f"\\u{ord(ch):04x}")
        elif ch in '"\\':
            out.append("\\" + ch)
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _scalar(text: str, rng: random.Random) -> str:
    style = rng.choice(["plain", "single", "double"])
    if style == "plain" and text and text.strip() == text and text[0].isalpha() and ": " not in text and " #" not in text \
            and text not in ("true", "false", "null", "y", "n", "yes", "no", "on", "off"):
        return text
    if style == "single":
        return "'" + text.replace("'", "''") + "'"
    return _double_quoted(text, rng)


def _emit(node, rng: random.Random) -> str:
    """Flow-style YAML for node, every scalar in a random style (escapes in double quotes)."""
    if isinstance(node, dict):
        return "{" + ", ".join(f"{_scalar(k, rng)}: {_emit(v, rng)}" for k, v in node.items()) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(_emit(v, rng) for v in node) + "]"
    return _scalar(node, rng)


_tree = st.recursive(
    st.sampled_from(_VALUES),
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.sampled_from(_WORDS), children, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(spec=_tree, seed=st.integers(0, 2**32 - 1))
def test_prefilter_never_hides_a_location(spec, seed):
    """Whatever the spelling, a document discovery finds an image in is one visits() keeps."""
    rng = random.Random(seed)
    text = f"apiVersion: example.com/v1\nkind: Thing\nmetadata: {{name: t}}\nspec: {_emit(spec, rng)}\n"
    doc = parse_stream(text.encode()).documents[0]
    table = ImageTable(PodSpecTable())
    locations = [loc for _, r in resources(doc.obj) for loc in table.locations(r)]
    if locations:
        assert table.visits(doc), text


def test_the_generator_spells_images_without_the_word():
    """The property above means something: some generated documents hold a location although
    their text does not contain "image" literally (escapes), and the pre-filter keeps them."""
    table = ImageTable(PodSpecTable())
    hidden = 0
    for seed in range(400):
        rng = random.Random(seed)
        spec = {"containers": [{"image": rng.choice(_VALUES[:3])}], "image": "busybox"}
        text = f"apiVersion: example.com/v1\nkind: Thing\nmetadata: {{name: t}}\nspec: {_emit(spec, rng)}\n"
        doc = parse_stream(text.encode()).documents[0]
        if "image" not in text and [loc for _, r in resources(doc.obj) for loc in table.locations(r)]:
            hidden += 1
            assert table.visits(doc)
    assert hidden > 10  # 31 of these 400 seeds


def test_prefilter_on_every_corpus_document():
    """Documents the pre-filter (or the no-image kinds) leave unparsed hold no location."""
    table = ImageTable(PodSpecTable())
    skipped = 0
    for path in [*corpus_required(), STRESS]:
        for doc in parse_stream(path.read_bytes()).documents:
            if doc.void or table.visits(doc):
                continue
            skipped += 1
            assert [loc for _, r in resources(doc.obj) for loc in table.locations(r)] == [], doc.where()
    assert skipped > 400  # CRDs, ConfigMaps, RBAC, Services...: most of the corpus stays unparsed


def test_generic_discovery_finds_nothing_new_in_the_corpus():
    """The corpus README counts every value under an `image` key outside CRDs; generic
    discovery must add no location to what the tables find (no false positive on real data)."""
    for path in corpus_required():
        stream = parse_stream(path.read_bytes())
        with_generic = inventory(stream.documents, ImageTable(PodSpecTable()))
        generic = [f for f in with_generic if f.discovery in ("containers", "imageKey")]
        assert generic == [], (path.name, generic)


# ---- the inventory: --normalize and discovery in JSON --------------------------------------------------

NORMALIZE_INPUT = b"""\
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: ns}
spec:
  containers:
    - {name: a, image: haproxy:2.8}
    - {name: b, image: docker.io/library/haproxy:2.8}
    - {name: c, image: registry-1.docker.io/library/haproxy:2.8}
    - {name: d, image: x}
    - {name: e, image: "x:latest"}
    - {name: f, image: "quay.io/org/app@sha256:%s"}
    - {name: g, image: "Not Valid"}
""" % (b"ab" * 32)


def test_normalized_inventory_dedupes_spellings_with_implicit_latest():
    docs = parse_stream(NORMALIZE_INPUT).documents
    cfg = config("[]\n")
    assert render_inventory(docs, cfg, "text", normalize=True).splitlines() == [
        "Not Valid",
        "docker.io/library/haproxy:2.8",
        "docker.io/library/x:latest",
        f"quay.io/org/app@{SHA}",
    ]
    assert len(render_inventory(docs, cfg, "text").splitlines()) == 7
    data = json.loads(render_inventory(docs, cfg, "json", normalize=True))
    haproxy = next(i for i in data if i["image"] == "docker.io/library/haproxy:2.8")
    assert [loc["written"] for loc in haproxy["locations"]] == [
        "haproxy:2.8", "docker.io/library/haproxy:2.8", "registry-1.docker.io/library/haproxy:2.8"]
    assert {loc["discovery"] for loc in haproxy["locations"]} == {"podSpec"}


def test_images_command_normalize_and_suspects(cli, tmp_path):
    from tests.conftest import write_config

    cfg = write_config(tmp_path, "rules: []\n")
    out = cli(["images", "-c", str(cfg), "--normalize"], NORMALIZE_INPUT)
    assert out.code == 0, out.err
    assert out.text.splitlines()[1] == "docker.io/library/haproxy:2.8"
    data = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {x: 'run quay.io/org/tool:1.2'}\n"
    sus = cli(["images", "-c", str(cfg), "--suspects"], data)
    assert sus.code == 0, sus.err
    assert sus.text == "document 1: ConfigMap/c: data.x: quay.io/org/tool:1.2\n"


# ---- suspects ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("image: quay.io/prometheus/prometheus:v3.1.0", ["quay.io/prometheus/prometheus:v3.1.0"]),
    ("--default-image quay.io/x/y", ["quay.io/x/y"]),                   # a public registry: no tag needed
    ("registry.corp.example:5000/team/app:1.0 and more", ["registry.corp.example:5000/team/app:1.0"]),
    ("helper: bitnami/kubectl:1.31.2", ["bitnami/kubectl:1.31.2"]),     # Docker Hub namespace/name:version
    (f"gcr.io/knative-releases/queue@{SHA}", [f"gcr.io/knative-releases/queue@{SHA}"]),
    ("https://quay.io/repository/x", []),                               # a URL
    ("oci://ghcr.io/org/charts/app", []),
    ("app.kubernetes.io/name", []),                                     # a label key, no tag
    ("prometheus.monitoring.svc:9090/api", []),
    ("nginx:1.27", []),                                                 # a single name: host:port lookalike
    ("key/value:text", []),                                             # a tag that is no version
    ("docker.io/istio", ["docker.io/istio"]),
])
def test_suspect_references(text, expected):
    assert [ref for _, ref in find_references(text)] == expected


def test_suspects_skip_image_fields_crds_and_secrets():
    stream = parse_stream(b"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
  annotations: {mirror/original: "quay.io/org/app:1"}
spec:
  template:
    spec:
      containers:
        - name: c
          image: quay.io/org/app:1
          args: ["--x-image=quay.io/org/x:2", "--config-from=quay.io/org/cfg:3"]
---
apiVersion: v1
kind: Secret
metadata: {name: s}
stringData: {a: "quay.io/org/secret:1"}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: xs.example.com}
spec: {versions: [{name: v1, schema: {openAPIV3Schema: {default: "quay.io/org/default:1"}}}]}
""")
    got = [(s.kind, s.path, s.reference) for s in suspects(stream.documents, ImageTable(PodSpecTable()))]
    assert got == [
        ("Deployment", "metadata.annotations['mirror/original']", "quay.io/org/app:1"),
        ("Deployment", "spec.template.spec.containers[0].args[1]", "quay.io/org/cfg:3"),
    ]


def test_suspects_in_the_corpus_are_the_knative_queue_image_and_istio_hubs():
    """What discovery leaves in real manifests: Knative's config-deployment names the queue-proxy
    image in ConfigMap data; istiod's values name the hub docker.io/istio."""
    table = ImageTable(PodSpecTable())
    got = set()
    for path in corpus_required():
        for s in suspects(parse_stream(path.read_bytes()).documents, table):
            got.add((path.name, s.kind, s.reference.split("@")[0]))
    assert got == {
        ("knative-serving-core.yaml", "ConfigMap", "gcr.io/knative-releases/knative.dev/serving/cmd/queue"),
        ("helm-istio-base-istiod-1.30.3.yaml", "ConfigMap", "docker.io/istio"),
    }


def test_run_rewrites_generic_locations_and_explains_which_rule_found_them():
    from postrender.pipeline import run_stream

    rules = "- registryRewrite: {mirrors: [{from: docker.io, to: mirror.local/hub}]}\n"
    result = run_stream(config(rules), textwrap.dedent(CR).encode(), explain=True)
    out = result.output.decode()
    assert "image: mirror.local/hub/library/nginx:1.27" in out and "image: mirror.local/hub/library/alpine" in out
    assert [c.line() for c in result.changes][0] == (
        "rules[0] (registryRewrite): HelmRelease/app: spec.values.image: nginx:1.27 -> mirror.local/hub/library/nginx:1.27"
        " (found by imageKey)")
