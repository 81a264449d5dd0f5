"""Property test: random manifest streams x random rule sets never corrupt, crash or hang.

Streams are real corpus objects (Deployments, DaemonSets, Jobs, ConfigMaps, Services, CRDs,
... plus CronJobs, Pods and Lists built from them) written in random YAML styles with
YAML-1.1-tricky scalars, anchors/aliases, comments, markers, CRLF and a BOM
(``tests/fuzz_streams_gen.py``).  Rules are drawn from imagePullPolicy, imagePullSecrets,
registryRewrite, images and patch (strategic merge on a label, JSON6902 add); the expected
result of each is computed here, on SafeLoader data, by the documented semantics -- never with
postrender's own code.

For every example, through the real run path (``runner.main``: argv, boundary, stdout write):

* exit 0: stdout parses (PyYAML SafeLoader, YAML 1.1 as Kubernetes reads it) to exactly the
  expected objects; every document the rules leave alone is byte-identical to the input; a
  CRLF input has no bare LF in the output; the BOM is kept;
* or, only where the rules cannot apply (a JSON6902 ``add`` under a missing parent), a clean
  error: exit 3, exactly one stderr line ``postrender: ...``, nothing on stdout;
* never a traceback, an "internal error" or a hang (an alarm after POSTRENDER_FUZZ_TIMEOUT s).

CI: 250 derandomized examples (4-10 s).  A long campaign (random seed; ``--hypothesis-seed=N``
picks one; tallies printed with ``-s``)::

    POSTRENDER_FUZZ_EXAMPLES=20000 POSTRENDER_FUZZ_STATS=/tmp/fuzz-stats.jsonl \\
        .venv/bin/python -m pytest tests/test_fuzz_streams.py -p no:cacheprovider -s -q --hypothesis-seed=41
"""

from __future__ import annotations

import json
import random
import re
import tempfile
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import given, strategies as st

from tests.conftest import CONFIG_HEADER, DOCUMENT_START, run_cli
from tests.fuzz_harness import Tally, assert_clean_error, fuzz_settings, run_in_process
from tests.fuzz_streams_gen import make_stream

TALLY = Tally("streams")
CONFIG_DIR = Path(tempfile.mkdtemp(prefix="postrender-fuzz-"))


@pytest.fixture(scope="module", autouse=True)
def report_tally():
    yield
    TALLY.report()


# ---- independent expectations -----------------------------------------------------------------

# Where pod specs live (group, kind) -> path; the documented table, restated for the oracle.
POD_SPECS = {
    ("", "Pod"): ("spec",),
    ("apps", "Deployment"): ("spec", "template", "spec"),
    ("apps", "DaemonSet"): ("spec", "template", "spec"),
    ("apps", "StatefulSet"): ("spec", "template", "spec"),
    ("apps", "ReplicaSet"): ("spec", "template", "spec"),
    ("batch", "Job"): ("spec", "template", "spec"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
    ("operators.coreos.com", "ClusterServiceVersion"): ("spec", "install", "spec", "deployments[]", "spec", "template", "spec"),
}


def resources(doc) -> list[dict]:
    """A document's Kubernetes objects: the items of a *List, else the document itself."""
    if not isinstance(doc, dict):
        return []
    kind = doc.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
        return [item for item in doc["items"] if isinstance(item, dict)]
    return [doc]


def targeted(resource: dict, target: str | None) -> bool:
    return target is None or (isinstance(resource.get("kind"), str) and re.fullmatch(target, resource["kind"]) is not None)


def pod_specs(resource: dict) -> list[dict]:
    api = resource.get("apiVersion")
    group = api.split("/")[0] if isinstance(api, str) and "/" in api else ""
    nodes = [resource]
    for step in POD_SPECS.get((group, resource.get("kind")), ("-not-a-pod-",)):
        children = [n.get(step.removesuffix("[]")) for n in nodes if isinstance(n, dict)]
        if step.endswith("[]"):
            children = [item for c in children if isinstance(c, list) for item in c]
        nodes = children
    return [n for n in nodes if isinstance(n, dict)]


def containers(spec: dict):
    for name in ("initContainers", "containers", "ephemeralContainers"):
        if isinstance(spec.get(name), list):
            yield from (c for c in spec[name] if isinstance(c, dict))


class CannotApply(Exception):
    """The rule set must fail on this stream (a clean exit-3 error is the right answer)."""


def expect_pull_policy(doc, rule):
    for r in resources(doc):
        for spec in pod_specs(r) if targeted(r, rule.get("target")) else ():
            for c in containers(spec):
                if not (rule["onlyIfUnset"] and c.get("imagePullPolicy") is not None):
                    c["imagePullPolicy"] = rule["policy"]


def expect_pull_secrets(doc, rule):
    for spec in (s for r in resources(doc) if targeted(r, rule.get("target")) for s in pod_specs(r)):
        current = spec.get("imagePullSecrets")
        old = current if isinstance(current, list) else []
        names = [e.get("name") for e in old if isinstance(e, dict)]
        merged, seen = [], set()
        for entry in old:
            name = entry.get("name") if isinstance(entry, dict) else None
            if name in rule["names"]:
                if name in seen:
                    continue
                seen.add(name)
            merged.append(entry)
        merged += [{"name": n} for n in rule["names"] if n not in names]
        if merged != current:
            spec["imagePullSecrets"] = merged


def _rewrite_images(doc, rule, rewrite):
    for r in resources(doc):
        for spec in pod_specs(r) if targeted(r, rule.get("target")) else ():
            for c in containers(spec):
                if isinstance(c.get("image"), str):
                    c["image"] = rewrite(c["image"])


def expect_registry_rewrite(doc, rule):
    src, dst = rule["from"], rule["to"]
    _rewrite_images(doc, rule, lambda image: dst + image[len(src):] if image.startswith(src + "/") else image)


def expect_images(doc, rule):
    name, tag = rule["name"], rule["newTag"]

    def rewrite(image: str) -> str:
        if image == name or image.startswith((name + ":", name + "@")):
            return f"{name}:{tag}"
        return image

    _rewrite_images(doc, rule, rewrite)


def expect_label_patch(doc, rule):
    for r in resources(doc):
        if targeted(r, rule.get("target")):
            meta = r.get("metadata") if isinstance(r.get("metadata"), dict) else {}
            labels = meta.get("labels") if isinstance(meta.get("labels"), dict) else {}
            labels[LABEL] = rule["value"]
            meta["labels"] = labels
            r["metadata"] = meta


def expect_annotation_add(doc, rule):
    for r in resources(doc):
        if targeted(r, rule.get("target")):
            meta = r.get("metadata")
            if not isinstance(meta, dict) or not isinstance(meta.get("annotations"), dict):
                raise CannotApply("JSON6902 add under a missing /metadata/annotations")
            meta["annotations"][ANNOTATION] = rule["value"]


EXPECT = {"imagePullPolicy": expect_pull_policy, "imagePullSecrets": expect_pull_secrets,
          "registryRewrite": expect_registry_rewrite, "images": expect_images,
          "labelPatch": expect_label_patch, "annotationAdd": expect_annotation_add}
LABEL = "fuzz.example.com/label"
ANNOTATION = "fuzz.example.com/added"


def config_entry(rule: dict) -> dict:
    """The config text for a rule (JSON is YAML: no quoting question in the config itself)."""
    kind = rule["type"]
    if kind == "imagePullPolicy":
        body = {"imagePullPolicy": {"policy": rule["policy"], "onlyIfUnset": rule["onlyIfUnset"]}}
    elif kind == "imagePullSecrets":
        body = {"imagePullSecrets": {"names": rule["names"]}}
    elif kind == "registryRewrite":
        body = {"registryRewrite": {"mirrors": [{"from": rule["from"], "to": rule["to"]}]}}
    elif kind == "images":
        body = {"images": [{"name": rule["name"], "newTag": rule["newTag"]}]}
    elif kind == "labelPatch":
        body = {"patch": {"strategicMerge": {"metadata": {"labels": {LABEL: rule["value"]}}}}}
    else:
        body = {"patch": {"json6902": [{"op": "add", "path": "/metadata/annotations/" + ANNOTATION.replace("/", "~1"),
                                        "value": rule["value"]}]}}
    if rule.get("target"):
        body["target"] = {"kind": rule["target"]}
    return body


# ---- image names the image rules may use -----------------------------------------------------

def _strings(node, out: list):
    if isinstance(node, str):
        out.append(node)
    elif isinstance(node, dict):
        for k, v in node.items():
            _strings(k, out)
            _strings(v, out)
    elif isinstance(node, list):
        for v in node:
            _strings(v, out)


def clean_image_names(objs: list) -> tuple[list[str], list[str]]:
    """(registries, repositories) that occur only as container ``image`` values.

    The image rules also edit args, env and custom-resource fields; restricting them to names
    seen nowhere else keeps the oracle to "rewrite container images".
    """
    container_images = []
    for doc in objs:
        for r in resources(doc):
            container_images += [c["image"] for spec in pod_specs(r) for c in containers(spec)
                                 if isinstance(c.get("image"), str)]
    everything: list[str] = []
    for doc in objs:
        _strings(doc, everything)
    registries, repos = set(), set()
    for image in container_images:
        host, _, rest = image.partition("/")
        if rest and ("." in host or ":" in host) and host != "docker.io":
            registries.add(host)
        repo = re.split(r"[@]", image)[0]
        repo = repo.rsplit(":", 1)[0] if ":" in repo.rsplit("/", 1)[-1] else repo
        if "/" in repo and re.fullmatch(r"[a-z0-9./-]+", repo):
            repos.add(repo)
    def only_images(name: str) -> bool:
        uses = [s for s in everything if name in s]
        images_ = [s for s in container_images if name in s]
        return len(uses) == len(images_)
    return sorted(r for r in registries if only_images(r)), sorted(r for r in repos if only_images(r))


# ---- strategies ------------------------------------------------------------------------------

TRICKY_VALUES = ["on", "no", "0755", "1e3", "null", "", "yes please", "123456789012345678901234567890",
                 "a: b", "#x", "true", "~", "ok", "v1.2.3", "'", '"']
SECRET_NAMES = ["regcred", "pull-secret", "on", "0755", "a.b-c", "1e3"]
TARGETS = [None, None, "Deployment", "CronJob|Job", "ConfigMap", "Deployment|DaemonSet|Pod", ".*"]


@st.composite
def rule_sets(draw, objs):
    registries, repos = clean_image_names(objs)
    kinds = ["imagePullPolicy", "imagePullSecrets", "labelPatch", "annotationAdd"]
    kinds += ["registryRewrite"] if registries else []
    kinds += ["images"] if repos else []
    rules = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(kinds))
        rule = {"type": kind, "target": draw(st.sampled_from(TARGETS))}
        if kind == "imagePullPolicy":
            rule.update(policy=draw(st.sampled_from(["Always", "IfNotPresent", "Never"])), onlyIfUnset=draw(st.booleans()))
        elif kind == "imagePullSecrets":
            rule["names"] = draw(st.lists(st.sampled_from(SECRET_NAMES), min_size=1, max_size=3, unique=True))
        elif kind == "registryRewrite":
            rule.update({"from": draw(st.sampled_from(registries)), "to": draw(st.sampled_from(
                ["mirror.example.com", "mirror.example.com:5000/k8s", "localhost:5000"]))})
        elif kind == "images":
            rule.update(name=draw(st.sampled_from(repos)), newTag=draw(st.sampled_from(["v9.9.9", "1.0", "0755", "latest"])))
        else:
            rule["value"] = draw(st.sampled_from(TRICKY_VALUES))
        rules.append(rule)
    return rules


class Example(tuple):
    """(pieces, crlf, bom, rules), shown as what rebuilds it: make_stream(Random(seed), n_docs)."""

    def __repr__(self) -> str:
        return f"Example(seed={self.seed}, n_docs={self.n_docs}, rules={self[3]!r})"


@st.composite
def examples(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    n_docs = draw(st.integers(1, 6))
    pieces, crlf, bom = make_stream(random.Random(seed), n_docs)
    rules = draw(rule_sets([p.obj for p in pieces]))
    example = Example((pieces, crlf, bom, rules))
    example.seed, example.n_docs = seed, n_docs
    return example


# ---- the check -------------------------------------------------------------------------------

_PREAMBLE = re.compile(r"\A(?:[ \t]*(?:#[^\n]*)?\r?\n|%[^\n]*\n)*\Z")


def chunks(text: str) -> list[str]:
    """Cut a stream at '---' lines (the generator puts one before every document but the first;
    comments and directives before the first '---' belong to the first document)."""
    cuts = [m.start() for m in DOCUMENT_START.finditer(text)]
    cuts = [0] + [c for c in cuts if not _PREAMBLE.match(text[:c])] + [len(text)]
    return [text[a:b] for a, b in zip(cuts, cuts[1:])]


def comment_lines(text: str) -> Counter:
    """Whole-line comments and the '---'/'...' lines that carry them."""
    return Counter(line.strip() for line in text.splitlines() if line.strip().startswith(("#", "--- #")))


def expected_objects(pieces, rules):
    """Per document: (expected data, changed?); raises CannotApply."""
    out = []
    for piece in pieces:
        original = piece.obj
        data = json.loads(json.dumps(original))   # unshare aliased nodes: each place is its own data
        for rule in rules:
            EXPECT[rule["type"]](data, rule)
        out.append((data, data != original))
    return out


def stream_bytes(pieces, crlf: bool, bom: bool) -> bytes:
    text = "".join(p.text for p in pieces)
    if crlf:
        text = text.replace("\n", "\r\n")
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def write_config(rules) -> Path:
    text = CONFIG_HEADER + "rules:\n" + "".join(
        f"  - {json.dumps(config_entry(r), ensure_ascii=False)}\n" for r in rules)
    path = CONFIG_DIR / f"c{abs(hash(text))}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def check_example(pieces, crlf, bom, rules, run=run_in_process) -> str:
    data = stream_bytes(pieces, crlf, bom)
    config = write_config(rules)
    outcome = run(["run", "-c", str(config)], data)
    context = f"rules={rules!r}"
    assert "Traceback" not in outcome.err, f"{context}: {outcome.err}"
    try:
        expected = expected_objects(pieces, rules)
    except CannotApply:
        assert_clean_error(outcome, context)
        assert outcome.code == 3, f"{context}: {outcome.err}"
        return "clean error (expected)"
    assert outcome.code == 0, f"{context}: exit {outcome.code}: {outcome.err}"
    assert all(line.startswith("postrender: warning: ") for line in outcome.err_lines), f"{context}: {outcome.err}"
    out = outcome.out
    assert out.startswith(b"\xef\xbb\xbf") == bom, f"{context}: BOM not kept as it was"
    text = out.decode("utf-8").removeprefix("\ufeff")
    parsed = list(yaml.load_all(text, Loader=yaml.CSafeLoader))
    assert parsed == [obj for obj, _ in expected], f"{context}: output data differs from the expected data"
    in_text = data.decode("utf-8").removeprefix("\ufeff")
    before, after = chunks(in_text), chunks(text)
    assert len(before) == len(after), f"{context}: {len(before)} documents in, {len(after)} out"
    for i, ((obj, changed), old, new) in enumerate(zip(expected, before, after)):
        if not changed:
            assert new == old, f"{context}: document {i + 1} is not changed by the rules but its text is"
        else:
            assert yaml.load(new, Loader=yaml.CSafeLoader) == obj, f"{context}: document {i + 1}"
            lost = comment_lines(old) - comment_lines(new)
            assert not lost, f"{context}: document {i + 1} lost comments: {sorted(lost.elements())}"
    if crlf:
        assert "\n" not in text.replace("\r\n", ""), f"{context}: CRLF input, bare LF in the output"
    return "exit 0, changed" if any(c for _, c in expected) else "exit 0, unchanged"


@fuzz_settings(ci_examples=250)
@given(examples())
def test_random_streams_and_rules_give_exact_output_or_a_clean_error(example):
    pieces, crlf, bom, rules = example
    TALLY.add("inputs")
    TALLY.add(check_example(pieces, crlf, bom, rules))


@fuzz_settings(ci_examples=6, campaign_examples=50)   # a process start each
@given(examples())
def test_a_real_process_agrees_with_the_in_process_run(example):
    """The in-process harness is only valid if argv, exit code, stdout and stderr match a process."""
    pieces, crlf, bom, rules = example
    config = write_config(rules)
    data = stream_bytes(pieces, crlf, bom)
    inside = run_in_process(["run", "-c", str(config)], data)
    real = run_cli(["-c", str(config)], stdin=data)
    assert (real.code, real.out, real.err) == (inside.code, inside.out, inside.err)
