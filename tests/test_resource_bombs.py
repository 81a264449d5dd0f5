"""Resource bombs (issue 7): each is refused with one clean line or processed, within bounds.

The bounds are ``tests.figures.BOUNDS`` (CPU seconds and peak RSS of the postrender process),
asserted here and quoted by the README from there; each test prints what it measured, and
the bomb tests together report the README's figure (``figure bombs: ...`` with ``-s``).
Inputs are generated in tmp_path at test time, never committed.  Large valid streams: CI runs
2 MB; the README's 100 MB figure (minutes: a rule edits every document)::

    POSTRENDER_LARGE_STREAM_MB=100 .venv/bin/python -m pytest -p no:cacheprovider -q -s \\
        tests/test_resource_bombs.py -k large_valid_stream
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from postrender.engine import kube_yaml, locate
from postrender.engine import stream
from postrender.config.loader import load_config_text
from postrender.pipeline import BATCH_BYTES, per_document, run_into, run_stream
from tests.conftest import CONFIG_HEADER, STRESS, run_measured, write_config
from tests.figures import BOUNDS, record

REFUSAL_CPU_SECONDS = BOUNDS["bomb_cpu_seconds"]
REFUSAL_RSS_MB = BOUNDS["bomb_rss_mb"]
# Every bomb run of this module: (case, refused?, CPU seconds, peak RSS MiB); the figure is
# reported when all of them ran.
BOMBS: list[tuple[str, bool, float, float]] = []
IPP = "rules:\n  - imagePullPolicy:\n      policy: IfNotPresent\n"
NONE = "rules: []\n"
CONTAINERS = "  template:\n    spec:\n      containers:\n      - name: c\n        image: nginx\n"


# ---- generators ---------------------------------------------------------------------------

def laughs(depth: int, kind: str = "Deployment") -> str:
    """The classic: each level is a list of 10 aliases of the level below (10**depth nodes)."""
    api = "v1" if kind == "ConfigMap" else "apps/v1"  # image discovery skips a core ConfigMap unparsed
    lines = [f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: lol\nspec:", '  a0: &a0 "lol"']
    for i in range(1, depth + 1):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n" + CONTAINERS


def wide_laughs(kind: str = "Deployment") -> str:
    """50,000 aliases of one 50,000-item list: few alias events, 2.5e9 nodes."""
    items = ", ".join(["1"] * 50_000)
    refs = ", ".join(["*big"] * 50_000)
    return f"apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: w\nspec:\n  big: &big [{items}]\n  refs: [{refs}]\n" + CONTAINERS


def merge_laughs() -> str:
    """Merge keys naming one 20,000-key mapping 1,000 times."""
    keys = ", ".join(f"k{i}: {i}" for i in range(20_000))
    merges = ", ".join(["*m"] * 1000)
    return f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: m\nspec:\n  base: &m {{{keys}}}\n  x:\n    <<: [{merges}]\n" + CONTAINERS


def deep_flow(depth: int) -> str:
    return "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  x: " + "[" * depth + "]" * depth + "\n" + CONTAINERS


def deep_block(depth: int) -> str:
    """Block nesting, one space per level (10,000 levels is 50 MB of indentation)."""
    lines = ["apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:"]
    lines += [" " * (i + 1) + "k:" for i in range(depth)]
    return "\n".join(lines) + " x\n"


def big_scalar(kind: str, megabytes: int) -> str:
    return (f"# Source: chart/templates/big.yaml\napiVersion: v1\nkind: {kind}\nmetadata:\n  name: big\n"
            f"data:\n  blob: {'x' * (megabytes << 20)}\n")


def small_stream(path: Path, size: int) -> int:
    """A stream of small Deployments and ConfigMaps (Helm-like), ``size`` bytes; returns the count."""
    deploy = ("---\n# Source: chart/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n"
              "  name: web-{i}\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n"
              "        image: nginx:1.25\n")
    cm = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  key: value-{i}\n"
    written = count = 0
    with open(path, "w") as fh:
        while written < size:
            piece = (deploy if count % 2 == 0 else cm).format(i=count)
            fh.write(piece)
            written += len(piece)
            count += 1
    return count


# ---- refusals -------------------------------------------------------------------------------

REFUSED = [
    # (id, input, config rules, words the one-line error must contain)
    ("billion-laughs-9", lambda: laughs(9), IPP, ["document 1", "aliases expand to more than 100,000 nodes"]),
    ("billion-laughs-6", lambda: laughs(6), IPP, ["document 1", "billion laughs"]),
    ("wide-alias", lambda: wide_laughs(), IPP, ["document 1, line 7", "aliases expand"]),
    ("merge-key-alias", lambda: merge_laughs(), IPP, ["document 1", "aliases expand"]),
    ("deep-flow-10k", lambda: deep_flow(10_000), NONE, ["document 1, line 6", "nesting depth"]),
    ("deep-block-1500", lambda: deep_block(1500), NONE, ["document 1", "nesting depth"]),
    # 10,000 block levels need 50 MB of indentation: the size limit refuses it first.
    ("deep-block-10k", lambda: deep_block(10_000), NONE, ["document 1, line 1", "16 MiB"]),
    ("scalar-100mb-touched", lambda: big_scalar("Deployment", 100), IPP, ["document 1 (chart/templates/big.yaml)", "16 MiB"]),
    ("scalar-100mb-untouched", lambda: big_scalar("ConfigMap", 100), NONE, ["document 1 (chart/templates/big.yaml)", "16 MiB"]),
]


@pytest.mark.parametrize("case_id,make,rules,words", REFUSED, ids=[c[0] for c in REFUSED])
def test_bomb_is_refused_quickly_with_one_line(tmp_path, case_id, make, rules, words):
    source = tmp_path / "in.yaml"
    source.write_text(make())
    config = write_config(tmp_path, rules)
    code, out, err, seconds, rss, cpu = run_measured(["-c", str(config)], source)
    assert code == 3, err
    assert out == b""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("postrender: error: "), err
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0]
    bounded(case_id, True, cpu, rss, seconds)


def bounded(case_id: str, refused: bool, cpu: float, rss: float, seconds: float) -> None:
    """Assert the README's bounds for one bomb, print the measurement, keep it for the figure."""
    print(f"bomb {case_id}: {'refused' if refused else 'passed'}, {cpu:.2f} s CPU ({seconds:.2f} s wall), {rss:.0f} MiB")
    assert cpu < REFUSAL_CPU_SECONDS, f"{case_id}: {cpu:.2f} s CPU"
    assert rss < REFUSAL_RSS_MB, f"{case_id}: {rss:.0f} MiB"
    BOMBS.append((case_id, refused, cpu, rss))


@pytest.fixture(scope="module", autouse=True)
def bomb_figure():
    yield
    if len(BOMBS) == len(REFUSED) + 2:  # every bomb ran (not a -k selection)
        record("bombs", {}, {"bombs": len(BOMBS), "refused": sum(r for _, r, _, _ in BOMBS),
                             "passed": sum(not r for _, r, _, _ in BOMBS)},
               {"max_cpu_seconds": round(max(c for _, _, c, _ in BOMBS), 2), "max_rss_mb": round(max(m for *_, m in BOMBS))})


def test_bomb_in_a_document_no_rule_parses_passes_through_unexpanded(tmp_path):
    """A ConfigMap is never parsed by imagePullPolicy: the aliases stay aliases, byte for byte."""
    source = tmp_path / "in.yaml"
    source.write_text(laughs(9, kind="ConfigMap"))
    code, out, err, seconds, rss, cpu = run_measured(["-c", str(write_config(tmp_path, IPP))], source)
    assert (code, err) == (0, "")
    assert out == source.read_bytes()
    bounded("billion-laughs-9-untouched", False, cpu, rss, seconds)


def test_aliases_within_the_budget_are_expanded():
    text = laughs(4)  # 10**4 nodes: a generous real-world reuse
    (root,) = locate.parse(text)
    assert len(kube_yaml.read(root)["spec"]["a4"]) == 10
    with pytest.raises(locate.YAMLSyntaxError, match="aliases expand"):
        (root,) = locate.parse(laughs(5))  # 111,110 nodes through aliases
        kube_yaml.read(root)


def test_bomb_in_the_config_file_is_a_config_error(tmp_path):
    body = "vars:\n  a0: &a0 lol\n" + "".join(
        f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)) + "rules: []\n"
    config = write_config(tmp_path, body)
    source = tmp_path / "in.yaml"
    source.write_text("a: 1\n")
    code, out, err, seconds, rss, cpu = run_measured(["-c", str(config)], source)
    assert code == 2 and out == b"" and len(err.splitlines()) == 1, err
    assert "postrender.yaml" in err and "Traceback" not in err
    bounded("billion-laughs-in-the-config", True, cpu, rss, seconds)


# ---- large valid streams: memory follows the largest document, not the stream ---------------

LARGE_STREAM_MB = float(os.environ.get("POSTRENDER_LARGE_STREAM_MB", "2"))
PULL_SECRET_RULES = ("vars: {registry: r.example.com, username: u, password: hunter2}\nrules:\n"
                     "  - imagePullSecrets: {names: [regcred]}\n  - pullSecret: {name: regcred}\n"
                     "  - pullSecretReferences: {action: error}\n")


def test_large_valid_stream(tmp_path):
    """A stream of small Deployments and ConfigMaps (``small_stream``), POSTRENDER_LARGE_STREAM_MB
    of it (CI: 2; the README: 100), through `rules: []`, imagePullPolicy and the incident-5
    pull-secret rules: every output checked, peak RSS and CPU time within the README's bounds."""
    source = tmp_path / "large.yaml"
    documents = small_stream(source, int(LARGE_STREAM_MB * (1 << 20)))
    deployments = (documents + 1) // 2
    size_mb = source.stat().st_size / (1 << 20)
    measured = {}
    for label, rules in (("rules: []", NONE), ("imagePullPolicy", IPP), ("pull-secret rules", PULL_SECRET_RULES)):
        # A generous wall-clock limit: only a hang should hit it (the bound is on CPU time).
        code, out, err, seconds, rss, cpu = run_measured(["-c", str(write_config(tmp_path, rules))], source,
                                                         timeout=120 + 60 * size_mb)
        assert (code, err) == (0, ""), err
        if rules == NONE:
            assert out == source.read_bytes()
        elif rules == IPP:
            assert out.count(b"        imagePullPolicy: IfNotPresent\n") == deployments
        else:
            assert out.count(b"- name: regcred") == deployments and out.count(b"type: kubernetes.io/dockerconfigjson") == 1
        del out
        print(f"large stream {size_mb:.0f} MB, {label}: {cpu:.1f} s CPU ({seconds:.1f} s wall), {rss:.0f} MiB")
        if rules == PULL_SECRET_RULES:  # one location string kept per reference (SECURITY.md)
            limit = BOUNDS["large_pull_secret_rss_mb"] + BOUNDS["large_pull_secret_rss_mb_per_mb"] * size_mb
        else:
            limit = BOUNDS["large_rss_mb"]
        assert rss < limit, f"{label}: {rss:.0f} MiB"
        assert cpu < BOUNDS["large_cpu_seconds_per_mb"] * size_mb + 2, f"{label}: {cpu:.1f} s CPU"
        measured[label] = f"{cpu:.0f} s / {rss:.0f} MB"
    record("large", {"mb": LARGE_STREAM_MB}, {"documents": documents, "deployments": deployments},
           {"summary": ", ".join(f"{label} {m}" for label, m in measured.items())})


def test_memory_does_not_grow_with_the_stream(tmp_path):
    """Peak RSS for a 4x longer stream of the same small documents stays about the same."""
    peaks = {}
    for label, size, rules in (("small", 1 << 20, IPP), ("large", 4 << 20, IPP), ("pass", 32 << 20, NONE)):
        source = tmp_path / f"{label}.yaml"
        small_stream(source, size)
        code, out, err, seconds, rss, cpu = run_measured(["-c", str(write_config(tmp_path, rules))], source)
        assert (code, err) == (0, ""), err
        if rules == NONE:
            assert out == source.read_bytes()
        else:
            assert out.count(b"imagePullPolicy: IfNotPresent") == out.count(b"kind: Deployment")
        peaks[label] = rss
    # The slack covers allocator noise, not growth: before streaming, peak RSS was 6x the
    # stream without rules and ~37x with one (measured figures in the report).
    assert peaks["large"] < peaks["small"] + 30, peaks
    assert peaks["pass"] < 100, peaks


# One config per rule (and per option that decides whether it streams): each must run in
# batches and give exactly the whole-stream output.
BATCHED = {
    "imagePullPolicy": "  - imagePullPolicy:\n      policy: Always\n",
    "registryRewrite": "  - registryRewrite:\n      mirrors:\n        - {from: docker.io, to: mirror.local}\n",
    "images": "  - images:\n      - {name: quay.io/argoproj/argocd, newTag: v9.9.9}\n",
    "pinDigests": f"  - pinDigests:\n      lock: {Path(__file__).parent / 'data' / 'corpus.lock.yaml'}\n      onMissing: warn\n",
    "allowedRegistries": "  - allowedRegistries:\n      registries: [docker.io, quay.io, registry.k8s.io]\n      action: warn\n",
    "patch": ("  - patch:\n      strategicMerge: |\n        metadata:\n          labels:\n            batched: \"yes\"\n"
              "    target: {kind: Deployment}\n    expect: '>=1'\n"),
    # per_document decided by the rule's options: streamable without registries matching.
    "imagePullSecrets": "  - imagePullSecrets:\n      names: [regcred]\n",
    "imagePullSecrets-serviceAccounts": "  - imagePullSecrets:\n      names: [regcred]\n      serviceAccounts: true\n",
    # Observing rules (Rule.observes): they add documents or report at the end of the stream.
    "pullSecret": "  - imagePullSecrets:\n      names: [regcred]\n  - pullSecret:\n      name: regcred\n",
    "resources": ("  - resources:\n      inline: |\n        apiVersion: v1\n        kind: ConfigMap\n"
                  "        metadata: {name: added, namespace: monitoring}\n"),
    "pullSecretReferences-warn": "  - imagePullSecrets:\n      names: [nowhere]\n  - pullSecretReferences:\n      action: warn\n",
    "pullSecretReferences-error": "  - imagePullSecrets:\n      names: [nowhere]\n  - pullSecretReferences:\n      action: error\n",
    # Incident 5's config: names, the Secret only with credentials, dangling names an error;
    # a label patch after them also reaches the generated Secrets.
    "incident-5-chain": ("  - imagePullSecrets:\n      names: [regcred]\n  - pullSecret:\n      name: regcred\n"
                         "  - resources:\n      inline: |\n        apiVersion: v1\n        kind: ConfigMap\n"
                         "        metadata: {name: added}\n"
                         "  - pullSecretReferences:\n      action: error\n"
                         "  - patch:\n      merge: {metadata: {labels: {team: platform}}}\n"
                         "    target: {kind: Secret|ConfigMap}\n"),
}


@pytest.mark.parametrize("rule", sorted(BATCHED))
def test_batched_run_equals_whole_stream_run(rule, monkeypatch):
    """Each rule run in small batches gives the whole-stream output byte for byte (stress corpus)."""
    credentials = "vars: {registry: r.example.com, username: u, password: hunter2}\n"
    config = load_config_text(CONFIG_HEADER + credentials
                              + "rules:\n" + BATCHED[rule], "t.yaml")
    assert per_document(config)
    data = STRESS.read_bytes()
    whole = run_stream(config, data)
    monkeypatch.setattr("postrender.pipeline.BATCH_BYTES", 64 << 10)  # many batches
    import io

    out = io.BytesIO()
    batched = run_into(config, stream.chunks_of(io.BytesIO(data), 100_003), out)
    assert out.getvalue() == whole.output
    assert batched.warnings == whole.warnings and batched.failures == whole.failures
    assert whole.output != data or rule == "allowedRegistries"
    if rule.startswith("pullSecretReferences"):
        assert whole.warnings or whole.failures  # the check found the dangling names
    assert BATCH_BYTES >= 64 << 10


def test_image_pull_secrets_matching_service_accounts_by_registry_needs_the_whole_stream():
    config = load_config_text(
        CONFIG_HEADER + "rules:\n  - imagePullSecrets:\n"
        "      names: [regcred]\n      registries: [quay.io]\n      serviceAccounts: true\n", "t.yaml")
    assert not per_document(config)


def test_memory_with_the_pull_secret_rules_does_not_grow_with_the_stream(tmp_path):
    """Incident 5's config (names, generated Secret, dangling-name check) streams too: it keeps
    only a location string per reference, not the documents (before: 33x the stream)."""
    rules = ("vars: {registry: r.example.com, username: u, password: hunter2}\nrules:\n"
             "  - imagePullSecrets: {names: [regcred]}\n  - pullSecret: {name: regcred}\n"
             "  - pullSecretReferences: {action: error}\n")
    config = write_config(tmp_path, rules)
    peaks = {}
    for label, size in (("small", 1 << 20), ("large", 4 << 20)):
        source = tmp_path / f"{label}.yaml"
        small_stream(source, size)
        code, out, err, seconds, rss, cpu = run_measured(["-c", str(config)], source)
        assert (code, err) == (0, ""), err
        assert out.count(b"- name: regcred") == out.count(b"kind: Deployment") > 0
        assert out.count(b"type: kubernetes.io/dockerconfigjson") == 1
        peaks[label] = rss
    assert peaks["large"] < peaks["small"] + 30, peaks


def test_every_rule_has_a_batched_case():
    from postrender.rules import REGISTRY

    assert set(REGISTRY) <= {name.split("-")[0] for name in BATCHED}
