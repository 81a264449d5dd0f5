"""Differential campaign: kubectl is the judge of what every input and every output means.

Streams from ``tests/kube_streams_gen.py`` (corpus objects in random YAML styles plus the
constructs Go YAML reads its own way) go through postrender with random rules; then, batched
(hundreds of files per kubectl call, see ``tests/kube_oracle.py``):

1. **reading**: for every input, postrender's reading (``kube_yaml``; lists flattened) equals
   kubectl's, or both refuse the input;
2. **writing**: for every input postrender accepts, kubectl's reading of the *output* equals the
   rules applied to kubectl's reading of the *input* (the expectations are computed here, on
   kubectl's JSON, by the rules' documented semantics -- not with postrender's code), and
   postrender's own reading of its output says the same;
3. **fidelity**: a document whose objects the rules leave alone is byte-identical;
4. never a traceback or an "internal error"; a refusal is one clean line (exit 3).

Rules: imagePullPolicy (``onlyIfUnset`` treats absent, null and ``""`` as unset), imagePullSecrets,
a strategic-merge label patch and a JSON6902 label ``add`` whose keys and values are strings
Go would read as something else if written plain (``y``, ``0o17``, ``-.5``, ``12:30``...), and
registryRewrite on registries that occur only as container images.

CI runs a bounded seeded campaign (``POSTRENDER_KUBE_STREAMS``, default 400, seed 11).  The
full campaign (the README's Reliability figure)::

    POSTRENDER_KUBE_STREAMS=20000 POSTRENDER_KUBE_SEED=1 .venv/bin/python -m pytest \\
        tests/test_kube_differential.py -p no:cacheprovider -q -s
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from postrender.engine import kube_yaml
from postrender.engine.stream import parse_stream
from tests.fuzz_harness import assert_clean_error, run_in_process
from tests.kube_oracle import kubectl_read, kubectl_read_dir, kubectl_view, postrender_read, postrender_read_documents
from tests.kube_streams_gen import make_kube_stream
from tests.test_fuzz_streams import clean_image_names, containers, pod_specs, targeted
from tests.conftest import CONFIG_HEADER
from tests.figures import record

STREAMS = int(os.environ.get("POSTRENDER_KUBE_STREAMS", "400"))
SEED = int(os.environ.get("POSTRENDER_KUBE_SEED", "11"))
BATCH = 250

# Strings Go reads as something else when plain; as label keys and values they must stay strings.
GO_TRICKY = ["y", "n", "On", "NO", "~", "null", "-.5", "0X1F", "0o17", "-0B1", "-_1", "08", "1_", "12:30",
             ".5_0", "1e3", "0x_1F", "+1", "1.", "=", "<<", "2001-12-14", "0755", "", "a: b", "#x", "ok"]
LABEL_KEYS = ["fuzz.example.com/l", "on", "y", "0x1F", "1.5", "12:30", "<<", "08", "1e6", "NO"]
TARGETS = [None, None, "Deployment", "CronJob|Job", "ConfigMap", "Deployment|DaemonSet|Pod", ".*"]


class CannotApply(Exception):
    """The rules cannot apply to this stream: a clean exit-3 error is the right answer."""


# ---- the rules and what they do to kubectl's objects ----------------------------------------

def expect(obj: dict, rule: dict) -> None:
    kind = rule["type"]
    if kind == "imagePullPolicy":
        for spec in pod_specs(obj) if targeted(obj, rule["target"]) else ():
            for c in containers(spec):
                if not (rule["onlyIfUnset"] and c.get("imagePullPolicy") not in (None, "")):
                    c["imagePullPolicy"] = rule["policy"]
    elif kind == "imagePullSecrets":
        for spec in pod_specs(obj) if targeted(obj, rule["target"]) else ():
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
    elif kind in ("labelPatch", "labelAdd"):
        if not targeted(obj, rule["target"]):
            return
        meta = obj.setdefault("metadata", {})
        labels = meta.get("labels")
        if kind == "labelAdd" and not isinstance(labels, dict):
            raise CannotApply("JSON6902 add under a missing /metadata/labels")
        labels = labels if isinstance(labels, dict) else {}
        labels[rule["key"]] = rule["value"]
        meta["labels"] = labels
    elif kind == "registryRewrite":
        for spec in pod_specs(obj) if targeted(obj, rule["target"]) else ():
            for c in containers(spec):
                image = c.get("image")
                if isinstance(image, str) and image.startswith(rule["from"] + "/"):
                    c["image"] = rule["to"] + image[len(rule["from"]):]


def config_entry(rule: dict) -> dict:
    kind = rule["type"]
    if kind == "imagePullPolicy":
        body = {"imagePullPolicy": {"policy": rule["policy"], "onlyIfUnset": rule["onlyIfUnset"]}}
    elif kind == "imagePullSecrets":
        body = {"imagePullSecrets": {"names": rule["names"]}}
    elif kind == "labelPatch":
        body = {"patch": {"strategicMerge": {"metadata": {"labels": {rule["key"]: rule["value"]}}}}}
    elif kind == "labelAdd":
        path = "/metadata/labels/" + rule["key"].replace("~", "~0").replace("/", "~1")
        body = {"patch": {"json6902": [{"op": "add", "path": path, "value": rule["value"]}]}}
    else:
        body = {"registryRewrite": {"mirrors": [{"from": rule["from"], "to": rule["to"]}]}}
    if rule["target"]:
        body["target"] = {"kind": rule["target"]}
    elif kind == "labelAdd":
        body["target"] = {"kind": ".*"}  # a json6902 patch needs a target (kustomize); .* selects every resource
    return body


def choose_rules(rng: random.Random, objects: list[dict]) -> list[dict]:
    registries, _repos = clean_image_names(objects)
    kinds = ["imagePullPolicy", "imagePullSecrets", "labelPatch", "labelAdd"] + (["registryRewrite"] if registries else [])
    rules = []
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(kinds)
        rule = {"type": kind, "target": rng.choice(TARGETS)}
        if kind == "imagePullPolicy":
            rule.update(policy=rng.choice(["Always", "IfNotPresent", "Never"]), onlyIfUnset=rng.random() < 0.5)
        elif kind == "imagePullSecrets":
            rule["names"] = rng.sample(["regcred", "pull-secret", "a.b-c"], rng.randint(1, 2))
        elif kind in ("labelPatch", "labelAdd"):
            rule.update(key=rng.choice(LABEL_KEYS), value=rng.choice(GO_TRICKY))
        else:
            rule.update({"from": rng.choice(registries),
                         "to": rng.choice(["mirror.example.com", "mirror.example.com:5000/k8s", "localhost:5000"])})
        rules.append(rule)
    return rules


def write_config(directory: Path, name: str, rules: list[dict]) -> Path:
    path = directory / f"{name}.config.yaml"
    path.write_text(CONFIG_HEADER + "rules:\n" + "".join(
        f"  - {json.dumps(config_entry(r), ensure_ascii=False)}\n" for r in rules), encoding="utf-8")
    return path


# ---- the campaign -------------------------------------------------------------------------

def documents_texts(data: bytes) -> list[str]:
    return [doc.text for doc in parse_stream(data).documents if not doc.void]


def _yaml_level(error: str) -> bool:
    """Whether kubectl refused a file for its YAML (postrender must refuse it too) rather than
    for a typed field (``metadata.annotations`` holding a number), which is schema."""
    return "error converting YAML to JSON" in error or "yaml: " in error


def example(seed: int, n: int) -> bytes:
    """Stream number n of the campaign with this seed (each stream has its own generator, so
    one can be rebuilt alone: ``python -m tests.test_kube_differential SEED N DIR``)."""
    rng = random.Random(f"{seed}/{n}")
    return make_kube_stream(rng, rng.randint(1, 5))


def rules_for(seed: int, n: int, objects: list[dict]) -> list[dict]:
    return choose_rules(random.Random(f"{seed}/{n}/rules"), objects)


def run_batch(kubectl: Path, work: Path, seed: int, first: int, count: int, tally: Counter) -> list[str]:
    inputs, outputs = work / f"in{first}", work / f"out{first}"
    inputs.mkdir()
    outputs.mkdir()
    streams = {}
    for n in range(first, first + count):
        data = example(seed, n)
        name = f"{n:06d}.yaml"
        (inputs / name).write_bytes(data)
        streams[name] = data
    theirs, errors = kubectl_read_dir(kubectl, inputs)
    if "?" in errors:
        return [f"kubectl: {errors['?']}"]
    if errors:
        # kubectl may print some objects of a file it refuses: read the others again, aligned.
        rejected = work / f"rejected{first}"
        rejected.mkdir()
        for name in errors:
            (inputs / name).rename(rejected / name)
        theirs, again = kubectl_read_dir(kubectl, inputs)
        if again:
            return [f"kubectl refused on a second reading: {again}"]
    problems: list[str] = []
    cursor = 0
    accepted = {}
    for name, data in streams.items():
        tally["streams"] += 1
        try:
            ours = postrender_read(data)
        except Exception as exc:  # noqa: BLE001 - postrender refusing is a result to compare
            ours = exc
        if name in errors:
            if not _yaml_level(errors[name]):
                tally["refused by kubectl for the schema (not compared)"] += 1
                continue
            tally["refused by kubectl and postrender"] += 1
            if not isinstance(ours, Exception):
                problems.append(f"{name}: kubectl refuses it ({errors[name]}); postrender reads it")
            continue
        if isinstance(ours, Exception):
            alone, _ = kubectl_read(kubectl, inputs / name)
            cursor += len(alone)
            if "byte-order mark" in str(ours):
                # Deliberate: kubectl reads such a BOM as part of a key ("\ufeffapiVersion").
                tally["refused by postrender: a BOM kubectl reads as text"] += 1
                continue
            if "at random" in str(ours):
                # Deliberate: two keys kubectl reads as one string; which value it keeps is random.
                tally["refused by postrender: keys kubectl keeps one of at random"] += 1
                continue
            problems.append(f"{name}: postrender refuses it ({ours}); kubectl reads it")
            continue
        mine = theirs[cursor:cursor + len(ours)]
        cursor += len(ours)
        if mine != ours:
            problems.append(f"{name}: kubectl and postrender read different data\n  kubectl:    "
                            f"{json.dumps(mine, sort_keys=True)[:3000]}\n  postrender: {json.dumps(ours, sort_keys=True)[:3000]}")
            return problems
        accepted[name] = mine
    if cursor != len(theirs):
        return problems + [f"kubectl read {len(theirs)} objects, postrender {cursor}"]
    # Run the rules over every accepted input; compute what kubectl must read from the output.
    expected_by_name = {}
    for name, objects in accepted.items():
        rules = rules_for(seed, int(name[:6]), objects)
        config = write_config(work, name, rules)
        data = streams[name]
        outcome = run_in_process(["run", "-c", str(config)], data)
        context = f"{name} with rules {rules!r}"
        if "Traceback" in outcome.err or "internal error" in outcome.err:
            problems.append(f"{context}: {outcome.err}")
            continue
        try:
            expected = [json.loads(json.dumps(o)) for o in objects]
            for obj in expected:
                for rule in rules:
                    expect(obj, rule)
        except CannotApply:
            tally["refused, rules cannot apply"] += 1
            try:
                assert_clean_error(outcome, context)
            except AssertionError as exc:
                problems.append(str(exc))
            continue
        if outcome.code != 0:
            problems.append(f"{context}: exit {outcome.code}: {outcome.err}")
            continue
        changed = [o != e for o, e in zip(objects, expected)]
        tally["changed" if any(changed) else "unchanged"] += 1
        (outputs / name).write_bytes(outcome.out)
        expected_by_name[name] = [kubectl_view(kube_yaml.as_json_value(o)) for o in expected]
        # Fidelity: documents whose objects the rules leave alone come out byte for byte.
        counts = [len(objects) for objects in postrender_read_documents(data)]
        before, after = documents_texts(data), documents_texts(outcome.out)
        if len(before) != len(after):
            problems.append(f"{context}: {len(before)} documents in, {len(after)} out")
            continue
        at = 0
        for i, (old, new, n) in enumerate(zip(before, after, counts)):
            if not any(changed[at:at + n]) and old != new:
                problems.append(f"{context}: document {i + 1} is not changed by the rules but its text is")
            at += n
    # kubectl reads every output; it must read exactly the expected objects.
    got, out_errors = kubectl_read_dir(kubectl, outputs)
    cursor = 0
    for name, expected in expected_by_name.items():
        if name in out_errors:
            problems.append(f"{name}: kubectl refuses postrender's output: {out_errors[name]}")
            return problems
        mine = got[cursor:cursor + len(expected)]
        cursor += len(expected)
        ours = postrender_read((outputs / name).read_bytes())
        if mine != expected or ours != expected:
            problems.append(f"{name}: the output does not read as intended\n  expected:   "
                            f"{json.dumps(expected, sort_keys=True)[:3000]}\n  kubectl:    "
                            f"{json.dumps(mine, sort_keys=True)[:3000]}\n  postrender: {json.dumps(ours, sort_keys=True)[:3000]}")
            return problems
        tally["outputs read as intended"] += 1
    return problems


@pytest.mark.e2e
def test_kubectl_reads_every_input_and_output_as_postrender_does(need_tool):
    kubectl = need_tool("kubectl")
    tally: Counter = Counter()
    with tempfile.TemporaryDirectory(prefix="postrender-kube-diff-") as tmp:
        work = Path(tmp)
        for first in range(0, STREAMS, BATCH):
            problems = run_batch(kubectl, work, SEED, first, min(BATCH, STREAMS - first), tally)
            assert not problems, "\n".join(problems[:5])
    print(f"\nkube differential tally (seed {SEED}): {json.dumps(dict(sorted(tally.items())))}")
    assert tally["streams"] == STREAMS
    record("kube", {"streams": STREAMS, "seed": SEED}, dict(tally))
    # The campaign must exercise the rules, not only read: most outputs change something.
    assert tally["changed"] >= STREAMS // 3, tally


if __name__ == "__main__":  # rebuild one example: input, config and postrender's output
    import sys

    seed, n, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    out.mkdir(parents=True, exist_ok=True)
    data = example(seed, n)
    (out / "input.yaml").write_bytes(data)
    config = write_config(out, "example", rules_for(seed, n, postrender_read(data)))
    print(f"{out / 'input.yaml'}\n{config}")
