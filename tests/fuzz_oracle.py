"""The fuzz oracle: what every rule does to plain data, restated from the docs, not from postrender.

``tests/test_fuzz_streams.py`` computes the expected result of a random rule set on the data of
a generated stream with these functions and compares it with what postrender wrote.  Nothing
here imports postrender: the image grammar, the mirror and ``images:`` semantics
(docs/images.md), the pull-secret rules (docs/pull-secrets.md), the pod-spec table (README) are
written again, small, for the inputs the generator makes.

Images: the generator plants images from ``PLANTED`` (repositories that occur nowhere else in
the corpus) in every spelling Docker's grammar allows (``fuzzapp``, ``library/fuzzapp``,
``docker.io/fuzzapp``, ``index.docker.io/library/fuzzapp``, tags, digests, registries with
ports) into containers, ``*_IMAGE`` env values and ``--*-image=`` args; the image rules of a
rule set name only those, so every location the rules can touch is known here.
"""

from __future__ import annotations

import base64
import json
import re

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2f" * 32
PLANTED = [
    "fuzzapp", "fuzzapp:1.0", "library/fuzzapp:2", "docker.io/fuzzapp", "docker.io/library/fuzzapp:1.0",
    "index.docker.io/library/fuzzapp:3", f"fuzzapp@{D1}", f"fuzzapp:1.0@{D2}",
    "fuzzteam/tool:v1", "docker.io/fuzzteam/tool", "fuzzteam/tool:0755",
    "quay.io/fuzz/agent:v2", f"quay.io/fuzz/agent@{D1}", "quay.io/fuzz/agent",
    "registry.fuzz.example:5000/team/db:1.2", "registry.fuzz.example:5000/team/db",
    "localhost:5000/fuzz/cache:7",
]
HUB = "docker.io"


# ---- the reference grammar (distribution/reference), for well-formed references -------------

def split_ref(ref: str) -> tuple[str | None, str, str | None, str | None]:
    """(domain as written or None, path as written, tag, digest)."""
    name, _, digest = ref.partition("@")
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name[: len(name) - len(last)] + last.split(":")[0], last.split(":")[1]
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        return first, rest, tag, digest or None
    return None, name, tag, digest or None


def normalized_name(ref: str) -> str:
    domain, path, _tag, _digest = split_ref(ref)
    if domain in (None, "index.docker.io", "docker.io"):
        return f"{HUB}/{path if '/' in path else 'library/' + path}"
    return f"{domain}/{path}"


def join(name: str, tag: str | None, digest: str | None) -> str:
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


def mirror_prefix(prefix: str) -> str:
    """A mirror ``from``/``to`` (and an allowed/pull-secret registry) as the name prefix it means:
    a single host is a registry; ``x/`` is a Docker Hub namespace; anything else an image name."""
    if prefix.endswith("/"):
        domain, path, _, _ = split_ref(prefix[:-1] + "/x")
        return ("docker.io" if domain in (None, "index.docker.io") else domain) + "/" + path[:-2]
    if "/" not in prefix and ("." in prefix or ":" in prefix or prefix == "localhost"):
        return HUB if prefix == "index.docker.io" else prefix
    return normalized_name(prefix)


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + "/")


def rewrite_once(ref: str, mirrors: list[tuple[str, str]]) -> str:
    """The longest matching ``from`` (first listed on ties) replaced by ``to``; tag and digest
    kept; written in full (the generator's targets never stay on Docker Hub)."""
    name = normalized_name(ref)
    best = None
    for source, target in mirrors:
        prefix = mirror_prefix(source)
        if under(name, prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, target)
    if best is None:
        return ref
    _domain, _path, tag, digest = split_ref(ref)
    return join(mirror_prefix(best[1]) + name[len(best[0]):], tag, digest)


def rewrite_chained(ref: str, mirrors) -> str:
    for _ in range(len(mirrors)):
        new = rewrite_once(ref, mirrors)
        if new == ref:
            break
        ref = new
    return ref


def kustomize_image(ref: str, entry: dict, normalize: bool) -> str:
    """One ``images:`` entry (kustomize 5.7: match name with an optional ``:tag`` and
    ``@sha256:`` digest; newName replaces the name; newTag drops the digest, digest drops the tag,
    tagSuffix appends to the tag; ``normalize`` matches normalised names)."""
    if normalize:
        # Normalised matching needs a valid reference (an earlier entry may have written
        # ``fuzzapp:-fips``); kustomize's own matching is on the text, valid or not.
        if not VALID_REF.fullmatch(ref) or normalized_name(ref) != normalized_name(entry["name"]):
            return ref
        domain, path, tag, digest = split_ref(ref)
        name = (domain + "/" if domain else "") + path
    else:
        m = re.fullmatch(re.escape(entry["name"]) + r"(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?", ref)
        if not m:
            return ref
        name = entry["name"]
        tag = m.group(1)[1:] if m.group(1) else None
        digest = m.group(2)[1:] if m.group(2) else None
    name = entry.get("newName") or name
    if entry.get("newTag") and entry.get("digest"):
        tag, digest = entry["newTag"], entry["digest"]
    elif entry.get("newTag"):
        tag, digest = entry["newTag"], None
    elif entry.get("digest"):
        tag, digest = None, entry["digest"]
    elif entry.get("tagSuffix"):
        tag, digest = (tag or "") + entry["tagSuffix"], None
    return join(name, tag, digest or None)


# ---- where things are -------------------------------------------------------------------------

POD_SPECS = {
    ("", "Pod"): ("spec",),
    ("", "ReplicationController"): ("spec", "template", "spec"),
    ("", "PodTemplate"): ("template", "spec"),
    ("apps", "Deployment"): ("spec", "template", "spec"),
    ("apps", "DaemonSet"): ("spec", "template", "spec"),
    ("apps", "StatefulSet"): ("spec", "template", "spec"),
    ("apps", "ReplicaSet"): ("spec", "template", "spec"),
    ("batch", "Job"): ("spec", "template", "spec"),
    ("batch", "CronJob"): ("spec", "jobTemplate", "spec", "template", "spec"),
    ("operators.coreos.com", "ClusterServiceVersion"): ("spec", "install", "spec", "deployments[]", "spec", "template", "spec"),
}


def group(resource: dict) -> str:
    api = resource.get("apiVersion")
    return api.split("/")[0] if isinstance(api, str) and "/" in api else ""


def resources(doc) -> list[dict]:
    """A document's objects: the items of any object with an ``items`` list, else itself."""
    if not isinstance(doc, dict):
        return []
    if isinstance(doc.get("items"), list):
        return [item for item in doc["items"] if isinstance(item, dict)]
    return [doc]


def targeted(resource: dict, target: str | None) -> bool:
    return target is None or (isinstance(resource.get("kind"), str) and re.fullmatch(target, resource["kind"]) is not None)


def pod_specs(resource: dict) -> list[dict]:
    nodes = [resource]
    for step in POD_SPECS.get((group(resource), resource.get("kind")), ("-not-a-pod-",)):
        children = [n.get(step.removesuffix("[]")) for n in nodes if isinstance(n, dict)]
        if step.endswith("[]"):
            children = [item for c in children if isinstance(c, list) for item in c]
        nodes = children
    return [n for n in nodes if isinstance(n, dict)]


def containers(spec: dict):
    for name in ("initContainers", "containers", "ephemeralContainers"):
        if isinstance(spec.get(name), list):
            yield from (c for c in spec[name] if isinstance(c, dict))


def namespace(resource: dict) -> str:
    meta = resource.get("metadata")
    value = meta.get("namespace") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else ""


def image_places(container: dict):
    """(holder, key) of every image of a container: ``image``, ``*_IMAGE`` env values,
    ``--*image=REF`` args and command items."""
    if isinstance(container.get("image"), str):
        yield container, "image"
    for env in container.get("env") or []:
        if isinstance(env, dict) and isinstance(env.get("name"), str) and env["name"].endswith("IMAGE") \
                and isinstance(env.get("value"), str):
            yield env, "value"
    for key in ("args", "command"):
        items = container.get(key)
        if isinstance(items, list):
            for i, item in enumerate(items):
                if isinstance(item, str) and re.match(r"--[A-Za-z0-9-]*image=", item, re.I):
                    yield items, i


def get_image(holder, key) -> str:
    value = holder[key]
    return value.split("=", 1)[1] if isinstance(key, int) else value


def set_image(holder, key, ref: str) -> None:
    holder[key] = holder[key].split("=", 1)[0] + "=" + ref if isinstance(key, int) else ref


def planted(ref: str) -> bool:
    """A planted image the rules may touch: an invalid reference (``fuzzapp:-fips``, which a
    ``tagSuffix`` on an untagged image writes, as kustomize does) is reported and left alone."""
    return "fuzz" in ref and VALID_REF.fullmatch(ref) is not None


def each_image(docs, rule):
    for doc in docs:
        for r in resources(doc):
            for spec in pod_specs(r) if targeted(r, rule.get("target")) else ():
                for c in containers(spec):
                    for holder, key in list(image_places(c)):
                        if planted(get_image(holder, key)):
                            yield holder, key


# ---- the rules ---------------------------------------------------------------------------------

class CannotApply(Exception):
    """The rule set must fail on this stream (a clean exit-3 error is the right answer)."""


class CheckFails(Exception):
    """A check rule fails: exit 1, nothing on stdout."""


def merge_names(current, names: list[str]):
    """imagePullSecrets merged by name: existing entries kept in place (a repeated one of these
    names dropped), missing names appended in order; None when nothing changes."""
    old = current if isinstance(current, list) else []
    present = [e.get("name") for e in old if isinstance(e, dict)]
    merged, seen = [], set()
    for entry in old:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name in names:
            if name in seen:
                continue
            seen.add(name)
        merged.append(entry)
    merged += [{"name": n} for n in names if n not in present]
    return None if merged == current else merged


def expect_pull_policy(docs, rule, _facts):
    for doc in docs:
        for r in resources(doc):
            for spec in pod_specs(r) if targeted(r, rule.get("target")) else ():
                for c in containers(spec):
                    if not (rule["onlyIfUnset"] and c.get("imagePullPolicy") not in (None, "")):
                        c["imagePullPolicy"] = rule["policy"]


def _registry_matches(spec: dict, registries: list[str]) -> bool:
    prefixes = [mirror_prefix(r) for r in registries]
    for c in containers(spec):
        image = c.get("image")
        if isinstance(image, str) and image and " " not in image:
            try:
                name = normalized_name(image)
            except (IndexError, ValueError):
                continue
            if any(under(name, p) for p in prefixes):
                return True
    return False


def expect_pull_secrets(docs, rule, _facts):
    for doc in docs:
        for r in resources(doc):
            if not targeted(r, rule.get("target")):
                continue
            for spec in pod_specs(r):
                if rule.get("registries") and not _registry_matches(spec, rule["registries"]):
                    continue
                merged = merge_names(spec.get("imagePullSecrets"), rule["names"])
                if merged is not None:
                    spec["imagePullSecrets"] = merged
            if rule.get("serviceAccounts") and r.get("kind") == "ServiceAccount" and group(r) == "":
                merged = merge_names(r.get("imagePullSecrets"), rule["names"])
                if merged is not None:
                    r["imagePullSecrets"] = merged


def expect_registry_rewrite(docs, rule, _facts):
    for holder, key in each_image(docs, rule):
        set_image(holder, key, rewrite_chained(get_image(holder, key), rule["mirrors"]))


def expect_images(docs, rule, _facts):
    for holder, key in each_image(docs, rule):
        ref = get_image(holder, key)
        for entry in rule["entries"]:
            ref = kustomize_image(ref, entry, rule["normalize"])
        set_image(holder, key, ref)


def expect_pin_digests(docs, rule, _facts):
    for holder, key in each_image(docs, rule):
        ref = get_image(holder, key)
        _domain, _path, tag, digest = split_ref(ref)
        if digest is None:
            found = rule["lock"].get(f"{normalized_name(ref)}:{tag or 'latest'}")
            if found:
                set_image(holder, key, f"{ref}@{found}")


def expect_allowed(docs, rule, facts):
    """What the oracle can see: a container image outside the list must fail the check (images
    elsewhere, in args of corpus objects say, may fail it too: the test checks such lines)."""
    if rule["action"] != "error":
        return
    prefixes = [mirror_prefix(r) for r in rule["registries"]]
    for doc in docs:
        for r in resources(doc):
            for spec in pod_specs(r):
                for c in containers(spec):
                    image = c.get("image")
                    if isinstance(image, str) and VALID_REF.fullmatch(image) and \
                            not any(under(normalized_name(image), p) for p in prefixes):
                        facts["check must fail"] = True


# Well-formed references only (lower-case path, optional host[:port], tag, sha256 digest).
VALID_REF = re.compile(r"(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
                       r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?")


def referencing(docs):
    """(resource, namespace, names) of every pod spec and ServiceAccount with imagePullSecrets."""
    for doc in docs:
        for r in resources(doc):
            holders = pod_specs(r) + ([r] if r.get("kind") == "ServiceAccount" and group(r) == "" else [])
            for holder in holders:
                entries = holder.get("imagePullSecrets")
                if isinstance(entries, list):
                    yield holder, namespace(r), entries


def secrets_in(docs, types=None) -> set[tuple[str, str]]:
    out = set()
    for doc in docs:
        for r in resources(doc):
            if r.get("kind") == "Secret" and group(r) == "" and (types is None or r.get("type") in types):
                meta = r.get("metadata") if isinstance(r.get("metadata"), dict) else {}
                if isinstance(meta.get("name"), str):
                    out.add((namespace(r), meta["name"]))
    return out


def dockerconfigjson(registry: str, username: str, password: str) -> dict:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"auths": {registry: {"username": username, "password": password, "auth": auth}}}


def expect_pull_secret(docs, rule, facts):
    name = rule["name"]
    needed = {ns for _holder, ns, entries in referencing(docs)
              if any(isinstance(e, dict) and e.get("name") == name for e in entries)}
    have = {ns for ns, n in secrets_in(docs) if n == name}
    for ns in sorted(needed - have):
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, **({"namespace": ns} if ns else {})},
                  "type": "kubernetes.io/dockerconfigjson",
                  "data": {".dockerconfigjson": dockerconfigjson(*rule["credentials"])}}
        docs.append(secret)
        facts.setdefault("generated", []).append(secret)


def expect_references(docs, rule, facts):
    valid = secrets_in(docs, {"kubernetes.io/dockerconfigjson", "kubernetes.io/dockercfg"})
    dangling = 0
    for holder, ns, entries in list(referencing(docs)):
        keep = []
        for entry in entries:
            name = entry.get("name") if isinstance(entry, dict) else None
            if isinstance(name, str) and name and (ns, name) not in valid:
                dangling += 1
                continue
            keep.append(entry)
        if rule["action"] == "remove" and len(keep) != len(entries):
            if keep:
                holder["imagePullSecrets"] = keep
            else:
                del holder["imagePullSecrets"]
    if dangling and rule["action"] == "error":
        facts["reference failures"] = facts.get("reference failures", 0) + dangling
        raise CheckFails(f"{dangling} dangling pull-secret references")
    if rule["action"] == "warn":
        facts["warnings at least"] = facts.get("warnings at least", 0) + dangling


def expect_resources(docs, rule, facts):
    added = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fuzz-added", "namespace": "fuzz"},
             "data": {"mode": rule["value"]}}
    present = any(r.get("kind") == "ConfigMap" and (r.get("metadata") or {}).get("name") == "fuzz-added"
                  and namespace(r) == "fuzz" for doc in docs for r in resources(doc))
    if not present:
        docs.append(added)
        facts.setdefault("generated", []).append(added)


def _set_metadata_entry(docs, rule, field: str) -> None:
    """``metadata.<field>[key] = value`` on every targeted resource (maps created where missing)."""
    for doc in docs:
        for r in resources(doc):
            if targeted(r, rule.get("target")):
                meta = r.get("metadata") if isinstance(r.get("metadata"), dict) else {}
                entries = meta.get(field) if isinstance(meta.get(field), dict) else {}
                entries[rule["key"]] = rule["value"]
                meta[field] = entries
                r["metadata"] = meta


def expect_label_patch(docs, rule, _facts):
    _set_metadata_entry(docs, rule, "labels")


def expect_merge_patch(docs, rule, _facts):
    """RFC 7386 merge patch of one annotation (maps created where missing)."""
    _set_metadata_entry(docs, rule, "annotations")


def expect_annotation_add(docs, rule, _facts):
    for doc in docs:
        for r in resources(doc):
            if targeted(r, rule.get("target")):
                meta = r.get("metadata")
                if not isinstance(meta, dict):
                    raise CannotApply("JSON6902 add under a missing /metadata")
                if "annotations" not in meta:
                    meta["annotations"] = {}  # kustomize's resources always have annotations (its internal ones)
                if not isinstance(meta["annotations"], dict):
                    raise CannotApply("JSON6902 add under a /metadata/annotations that is not a mapping")
                meta["annotations"][rule["key"]] = rule["value"]


EXPECT = {
    "imagePullPolicy": expect_pull_policy, "imagePullSecrets": expect_pull_secrets,
    "registryRewrite": expect_registry_rewrite, "images": expect_images, "pinDigests": expect_pin_digests,
    "allowedRegistries": expect_allowed, "pullSecret": expect_pull_secret, "pullSecretReferences": expect_references,
    "resources": expect_resources, "labelPatch": expect_label_patch, "mergePatch": expect_merge_patch,
    "annotationAdd": expect_annotation_add,
}


def decoded_secret(obj: dict) -> dict:
    """A generated Secret as the oracle writes it: ``.dockerconfigjson`` decoded from base64 (or
    taken from stringData)."""
    out = json.loads(json.dumps(obj))
    data = out.pop("stringData", None) or {}
    if isinstance((out.get("data") or {}).get(".dockerconfigjson"), str):
        data = {".dockerconfigjson": base64.b64decode(out["data"][".dockerconfigjson"]).decode()}
    if ".dockerconfigjson" in data:
        out["data"] = {".dockerconfigjson": json.loads(data[".dockerconfigjson"])}
    return out
