"""Property test: random manifest streams x random rule sets never corrupt, crash or hang.

Streams are real corpus objects (Deployments, DaemonSets, Jobs, ConfigMaps, Services, CRDs,
... plus CronJobs, Pods and Lists built from them) written in random YAML styles with tricky
scalars, anchors/aliases, merge keys, comments, markers, CRLF and a BOM, and images planted in
every spelling Docker's grammar allows (``tests/fuzz_streams_gen.py``).  Rule sets draw 1-4 of
every rule type and option: imagePullPolicy (onlyIfUnset), imagePullSecrets (registries,
serviceAccounts), registryRewrite (registries, repositories, Docker Hub namespaces, short names,
several mirrors), images (newName/newTag/digest/tagSuffix, normalize), pinDigests, allowedRegistries
(warn/error), pullSecret, pullSecretReferences (warn/error/remove), resources, and patches
(strategic merge, merge, JSON6902 add), each with or without a target.  The expected result is
computed by ``tests/fuzz_oracle.py`` on the data PyYAML reads (the generator writes only text
PyYAML and go-yaml v2 read alike), from the documented semantics -- never with postrender's code.

For every example, through the real run path (``runner.main``: argv, boundary, stdout write):

* exit 0: stdout parses to exactly the expected objects, the added documents (generated pull
  Secrets, decoded; ``resources``) are exactly the expected ones; every document the rules leave
  alone is byte-identical to the input; a CRLF input has no bare LF in the output; the BOM is kept;
* exit 1 with nothing on stdout where a check must fail (a dangling pull-secret reference with
  ``action: error``, an image outside ``allowedRegistries``);
* exit 3, one clean line, where the rules cannot apply (a JSON6902 ``add`` under a missing parent);
* never a traceback, an "internal error" or a hang (an alarm after POSTRENDER_FUZZ_TIMEOUT s);
* over the run: at least half of the exit-0 examples change something, and every rule type ran.

CI: 250 derandomized examples.  The README's campaign (``python -m tests.figures`` shows the
command; ``figure streams: ...`` is its row, asserted equal to tests/figures.json)::

    POSTRENDER_FUZZ_EXAMPLES=5000 .venv/bin/python -m pytest -p no:cacheprovider -q -s \\
        tests/test_fuzz_streams.py --hypothesis-seed=41
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml
from hypothesis import given, strategies as st

from tests.conftest import CONFIG_HEADER, DOCUMENT_START, run_cli
from tests import fuzz_oracle as oracle
from tests.figures import record
from tests.fuzz_harness import CAMPAIGN, Tally, assert_clean_error, fuzz_settings, run_in_process
from tests.fuzz_streams_gen import make_stream

TALLY = Tally("streams")
# The share of exit-0 examples whose output must differ from the input: an oracle that is only
# ever asked about unchanged streams proves little.
CHANGED_FLOOR = 0.5


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-stream-configs")


@pytest.fixture(scope="module", autouse=True)
def report_tally(request):
    yield
    TALLY.report()
    counts = TALLY.counts
    exit0 = counts["exit 0, changed"] + counts["exit 0, unchanged"]
    if counts["inputs"] >= 100:
        assert counts["exit 0, changed"] >= CHANGED_FLOOR * exit0, f"too few examples change anything: {dict(counts)}"
        for rule in EXPECT:
            assert counts[f"rule {rule}"] > 0, f"no example used {rule}: {dict(counts)}"
    seed = request.config.getoption("hypothesis_seed", None)
    if CAMPAIGN and seed is not None and counts["inputs"] == CAMPAIGN:
        record("streams", {"examples": CAMPAIGN, "seed": int(seed)},
               {k: v for k, v in counts.items() if not k.startswith("rule ")})


# Re-exported for tests/test_kube_differential.py (the same table and walks).
resources, targeted, pod_specs, containers = oracle.resources, oracle.targeted, oracle.pod_specs, oracle.containers
EXPECT = oracle.EXPECT
CannotApply, CheckFails = oracle.CannotApply, oracle.CheckFails
LABEL = "fuzz.example.com/label"
ANNOTATION = "fuzz.example.com/added"
CREDENTIALS = ("registry.fuzz.example:5000", "fuzz-robot", "fuzz-pass-7Q")


def config_entry(rule: dict, directory: Path) -> dict:
    """The config entry for a rule (JSON is YAML: no quoting question in the config itself)."""
    kind = rule["type"]
    if kind == "imagePullPolicy":
        body = {"imagePullPolicy": {"policy": rule["policy"], "onlyIfUnset": rule["onlyIfUnset"]}}
    elif kind == "imagePullSecrets":
        options = {"names": rule["names"]}
        options.update({k: rule[k] for k in ("registries", "serviceAccounts") if rule.get(k)})
        body = {"imagePullSecrets": options}
    elif kind == "registryRewrite":
        body = {"registryRewrite": {"mirrors": [{"from": a, "to": b} for a, b in rule["mirrors"]]}}
    elif kind == "images":
        body = {"images": {"normalize": True, "entries": rule["entries"]} if rule["normalize"] else rule["entries"]}
    elif kind == "pinDigests":
        lock = directory / f"lock-{abs(hash(json.dumps(rule['lock'], sort_keys=True)))}.yaml"
        lock.write_text(json.dumps({"apiVersion": "postrender/v1alpha1", "kind": "ImageLock",
                                    "images": [{"image": k, "digest": v} for k, v in sorted(rule["lock"].items())]}))
        body = {"pinDigests": {"lock": str(lock), "onMissing": "warn"}}
    elif kind == "allowedRegistries":
        body = {"allowedRegistries": {"registries": rule["registries"], "action": rule["action"]}}
    elif kind == "pullSecret":
        body = {"pullSecret": {"name": rule["name"]}}
    elif kind == "pullSecretReferences":
        body = {"pullSecretReferences": {"action": rule["action"]}}
    elif kind == "resources":
        body = {"resources": {"inline": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fuzz-added, namespace: fuzz}\n"
                                        f"data: {{mode: {json.dumps(rule['value'])}}}\n"}}
    elif kind == "labelPatch":
        body = {"patch": {"strategicMerge": {"metadata": {"labels": {rule["key"]: rule["value"]}}}}}
    elif kind == "mergePatch":
        body = {"patch": {"merge": {"metadata": {"annotations": {rule["key"]: rule["value"]}}}}}
    else:
        body = {"patch": {"json6902": [{"op": "add", "path": "/metadata/annotations/" + rule["key"].replace("/", "~1"),
                                        "value": rule["value"]}]}}
    if rule.get("target"):
        body["target"] = {"kind": rule["target"]}
    elif kind == "annotationAdd":
        body["target"] = {"kind": ".*"}  # a json6902 patch needs a target (kustomize); .* selects every resource
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
                 "a: b", "#x", "true", "~", "ok", "v1.2.3", "'", '"', "y", "0o17", "-.5", "12:30"]
SECRET_NAMES = ["regcred", "pull-secret", "on", "0755", "a.b-c", "1e3"]
TARGETS = [None, None, "Deployment", "CronJob|Job", "ConfigMap", "Deployment|DaemonSet|Pod", ".*"]
# Names the image rules use: only planted repositories (tests/fuzz_oracle.PLANTED), every spelling.
MIRROR_FROMS = ["fuzzapp", "docker.io/library/fuzzapp", "index.docker.io/fuzzapp", "docker.io/fuzzteam/", "fuzzteam/",
                "quay.io/fuzz", "quay.io/fuzz/agent", "registry.fuzz.example:5000", "registry.fuzz.example:5000/team",
                "localhost:5000/fuzz"]
MIRROR_TOS = ["mirror.example.com/hub", "mirror.example.com:5000/k8s", "mirror.example.com"]
REPOSITORY_FROMS = {"fuzzapp", "docker.io/library/fuzzapp", "index.docker.io/fuzzapp", "quay.io/fuzz/agent"}
IMAGE_NAMES = ["fuzzapp", "library/fuzzapp", "docker.io/library/fuzzapp", "fuzzteam/tool", "quay.io/fuzz/agent",
               "registry.fuzz.example:5000/team/db", "localhost:5000/fuzz/cache"]
DIGEST = "sha256:" + "e3" * 32
REGISTRIES = ["docker.io", "quay.io", "registry.fuzz.example:5000", "docker.io/fuzzteam/", "quay.io/fuzz", "ghcr.io",
              "registry.k8s.io", "mirror.example.com"]
RULE_TYPES = sorted(oracle.EXPECT)


def image_entry(rng: random.Random) -> dict:
    entry = {"name": rng.choice(IMAGE_NAMES)}
    for key, values in (("newName", ["registry.example.com/moved", "fuzzmoved", "mirror.example.com/fuzz/app"]),
                        ("newTag", ["v9.9.9", "1.0", "0755", "latest"]), ("digest", [DIGEST]), ("tagSuffix", ["-fips", "-x"])):
        if (rng.random() < 0.5):
            entry[key] = rng.choice(values)
    if len(entry) == 1:
        entry["newTag"] = "v1-fuzz"
    return entry


def rule_set(rng: random.Random) -> list[dict]:
    """Rules drawn evenly (hypothesis draws the seed: its own draws favour the first choices)."""
    rules = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(RULE_TYPES)
        rule = {"type": kind}
        if kind not in ("pullSecret", "pullSecretReferences", "allowedRegistries", "resources"):
            rule["target"] = rng.choice(TARGETS)
        if kind == "imagePullPolicy":
            rule.update(policy=rng.choice(["Always", "IfNotPresent", "Never"]), onlyIfUnset=(rng.random() < 0.5))
        elif kind == "imagePullSecrets":
            rule["names"] = rng.sample(SECRET_NAMES, rng.randint(1, 3))
            if (rng.random() < 0.5):
                rule["registries"] = rng.sample(REGISTRIES, rng.randint(1, 2))
            elif (rng.random() < 0.5):
                rule["serviceAccounts"] = True
        elif kind == "registryRewrite":
            froms = rng.sample(MIRROR_FROMS, rng.randint(1, 3))
            # A whole repository goes to a repository: to a bare registry it would become the
            # Docker Hub image named after the host (postrender does not refuse that yet).
            rule["mirrors"] = [(f, rng.choice(MIRROR_TOS[:2] if f in REPOSITORY_FROMS else MIRROR_TOS)) for f in froms]
        elif kind == "images":
            rule.update(normalize=(rng.random() < 0.5), entries=[image_entry(rng) for _ in range(rng.randint(1, 3))])
        elif kind == "pinDigests":
            chosen = rng.sample(oracle.PLANTED, rng.randint(1, 8))
            rule["lock"] = {}
            for ref in chosen:
                _domain, _path, tag, _digest = oracle.split_ref(ref)
                key = f"{oracle.normalized_name(ref)}:{tag or 'latest'}"
                rule["lock"][key] = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        elif kind == "allowedRegistries":
            rule.update(registries=rng.sample(REGISTRIES, rng.randint(1, 4)),
                        action=rng.choice(["warn", "error"]))
        elif kind == "pullSecret":
            rule.update(name=rng.choice(SECRET_NAMES[:2]), credentials=CREDENTIALS)
        elif kind == "pullSecretReferences":
            rule["action"] = rng.choice(["warn", "error", "remove"])
        elif kind == "resources":
            rule["value"] = rng.choice(TRICKY_VALUES)
        elif kind in ("labelPatch", "mergePatch"):
            rule.update(key=LABEL if kind == "labelPatch" else ANNOTATION, value=rng.choice(TRICKY_VALUES))
        else:
            rule.update(key=ANNOTATION, value=rng.choice(TRICKY_VALUES))
        rules.append(rule)
    return rules


class Example(tuple):
    """(pieces, crlf, bom, rules), shown as what rebuilds it: ``example(number)``."""

    def __repr__(self) -> str:
        return f"example({self.number}): rules={self[3]!r}"


def example(number: int) -> Example:
    """Example ``number``: the stream and the rules come from generators seeded by a hash of it
    (hypothesis's own draws favour small numbers and the first choices: 56% of its n_docs were 1)."""
    rng = random.Random(hashlib.sha256(f"stream/{number}".encode()).digest())
    pieces, crlf, bom = make_stream(rng, rng.randint(1, 6), workloads_first=True)
    rules = rule_set(random.Random(hashlib.sha256(f"rules/{number}".encode()).digest()))
    built = Example((pieces, crlf, bom, rules))
    built.number = number
    return built


@st.composite
def examples(draw):
    return example(draw(st.integers(0, 2**63 - 1)))


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


def expected_result(pieces, rules) -> tuple[list, list, dict]:
    """(expected data per document, documents the rules add, facts); raises CannotApply or
    CheckFails.  Each rule applies to the output of the previous one, added documents included."""
    docs = [json.loads(json.dumps(p.obj)) for p in pieces]   # unshare aliased nodes
    facts: dict = {}
    for rule in rules:
        try:
            EXPECT[rule["type"]](docs, rule, facts)
        except CheckFails:
            # A failed check is reported at the end of the stream: the rules after it still run,
            # and one that cannot apply makes the run an error (exit 3) instead.
            facts["check must fail"] = True
    return docs[:len(pieces)], docs[len(pieces):], facts


def stream_bytes(pieces, crlf: bool, bom: bool) -> bytes:
    text = "".join(p.text for p in pieces)
    if crlf:
        text = text.replace("\n", "\r\n")
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def write_config(rules, directory: Path) -> Path:
    variables = ""
    if any(r["type"] == "pullSecret" for r in rules):
        registry, username, password = CREDENTIALS
        variables = f"vars: {json.dumps({'registry': registry, 'username': username, 'password': password})}\n"
    text = CONFIG_HEADER + variables + "rules:\n" + "".join(
        f"  - {json.dumps(config_entry(r, directory), ensure_ascii=False)}\n" for r in rules)
    path = directory / f"c{hashlib.sha256(text.encode()).hexdigest()[:16]}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def canonical(objects) -> list[str]:
    return sorted(json.dumps(oracle.decoded_secret(o) if o.get("kind") == "Secret" else o, sort_keys=True)
                  for o in objects)


def go_text(text: str) -> str:
    """The text as go-yaml reads it: ending with a line break (a block scalar on the last line of
    a stream without one keeps its newline; PyYAML alone would drop it)."""
    return text if text.endswith(("\n", "\r")) else text + "\n"


CHECK_LINE = re.compile(r"is not from an allowed registry|^postrender: check failed: .*pullSecretReferences|"
                        r"^postrender: warning: |^postrender: \d+ check\(s\) failed; no output written$")


def check_example(pieces, crlf, bom, rules, directory: Path, run=run_in_process) -> str:
    data = stream_bytes(pieces, crlf, bom)
    config = write_config(rules, directory)
    outcome = run(["run", "-c", str(config)], data)
    context = f"rules={rules!r}"
    assert "Traceback" not in outcome.err and "internal error" not in outcome.err, f"{context}: {outcome.err}"
    try:
        expected, added, facts = expected_result(pieces, rules)
    except CannotApply:
        assert_clean_error(outcome, context)
        assert outcome.code == 3, f"{context}: {outcome.err}"
        return "clean error (expected)"
    if outcome.code == 1 and not facts.get("check must fail") and any(
            r["type"] == "allowedRegistries" and r["action"] == "error" for r in rules):
        # An image the oracle does not model (in a corpus object's args, say) is outside the
        # list: each failure must name an image and its registry, and nothing is written.
        assert outcome.out == b"" and all(CHECK_LINE.search(line) for line in outcome.err_lines), f"{context}: {outcome.err}"
        return "check failed on an image the oracle does not model"
    if facts.get("check must fail"):
        assert (outcome.code, outcome.out) == (1, b""), f"{context}: a check must fail: exit {outcome.code}: {outcome.err}"
        assert all(CHECK_LINE.search(line) for line in outcome.err_lines), f"{context}: {outcome.err}"
        reported = sum("check failed: " in line and "pullSecretReferences" in line and "no Secret" in line
                       for line in outcome.err_lines)
        assert reported == facts.get("reference failures", 0), f"{context}: {reported} dangling references reported"
        return "check failed (expected)"
    assert outcome.code == 0, f"{context}: exit {outcome.code}: {outcome.err}"
    assert all(line.startswith("postrender: warning: ") for line in outcome.err_lines), f"{context}: {outcome.err}"
    assert len(outcome.err_lines) >= facts.get("warnings at least", 0), f"{context}: dangling references not reported"
    out = outcome.out
    assert out.startswith(b"\xef\xbb\xbf") == bom, f"{context}: BOM not kept as it was"
    text = out.decode("utf-8").removeprefix("\ufeff")
    parsed = list(yaml.load_all(go_text(text), Loader=yaml.CSafeLoader))
    assert parsed[:len(expected)] == expected, f"{context}: output data differs from the expected data"
    assert canonical(parsed[len(expected):]) == canonical(added), f"{context}: added documents differ"
    in_text = data.decode("utf-8").removeprefix("\ufeff")
    before, after = chunks(in_text), chunks(text)
    assert len(after) == len(before) + len(added), f"{context}: {len(before)} documents in, {len(after)} out"
    for i, (obj, piece, old, new) in enumerate(zip(expected, pieces, before, after)):
        if obj == piece.obj:
            last = i == len(before) - 1 and added
            # Before an appended document, a last line without a line break gets one.
            assert new == old or (last and new in (old + "\n", old + "\r\n")), \
                f"{context}: document {i + 1} is not changed by the rules but its text is"
        else:
            assert yaml.load(go_text(new), Loader=yaml.CSafeLoader) == obj, f"{context}: document {i + 1}"
            lost = comment_lines(old) - comment_lines(new)
            assert not lost, f"{context}: document {i + 1} lost comments: {sorted(lost.elements())}"
    if crlf:
        assert "\n" not in text.replace("\r\n", ""), f"{context}: CRLF input, bare LF in the output"
    changed = added or any(obj != piece.obj for obj, piece in zip(expected, pieces))
    return "exit 0, changed" if changed else "exit 0, unchanged"


@fuzz_settings(ci_examples=250)
@given(examples())
def test_random_streams_and_rules_give_exact_output_or_a_clean_error(config_dir, example):
    pieces, crlf, bom, rules = example
    TALLY.add("inputs")
    for rule in {r["type"] for r in rules}:
        TALLY.add(f"rule {rule}")
    TALLY.add(check_example(pieces, crlf, bom, rules, config_dir))


@fuzz_settings(ci_examples=6, campaign_examples=50)   # a process start each
@given(examples())
def test_a_real_process_agrees_with_the_in_process_run(config_dir, example):
    """The in-process harness is only valid if argv, exit code, stdout and stderr match a process."""
    pieces, crlf, bom, rules = example
    config = write_config(rules, config_dir)
    data = stream_bytes(pieces, crlf, bom)
    inside = run_in_process(["run", "-c", str(config)], data)
    real = run_cli(["-c", str(config)], stdin=data)
    assert (real.code, real.out, real.err) == (inside.code, inside.out, inside.err)
