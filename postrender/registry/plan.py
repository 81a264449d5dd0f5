"""Which images ``lock`` and ``mirror`` work on, from the config's own rules.

The images are what :func:`postrender.images.discovery.inventory` finds after running rules
on the input: the same walker ``registryRewrite`` and ``postrender images`` use, so every
image the cluster will pull is covered and nothing else.

Both commands need each image at two points of the rule list, and get them by running the
rules twice and pairing the inventories by location (document, field path, and the order of
images inside one field, for ``--flag=REF`` strings holding two):

* ``mirror``: the *source* is the image with every rule but ``registryRewrite`` (tags and
  names set by ``images``/``patch`` rules apply, the registry is the one the chart names); the
  *destination* is the image after every rule.  A source and destination that differ in tag
  or digest mean the rules change tags differently with and without the rewrite: that image is
  reported, not copied under the wrong tag.
* ``lock``: the digest is resolved where the image will be pulled from (after every rule) and
  recorded under the name ``pinDigests`` will see at its place in the rule list, so a
  ``pinDigests`` placed before ``registryRewrite`` still finds its entries (a mirrored copy has
  the same digest).

``pinDigests`` rules never run here: they read what ``lock`` writes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from postrender.images.discovery import Found, ImageTable, inventory
from postrender.images.reference import ImageRef, is_reference, parse

PIN = "pinDigests"
REWRITE = "registryRewrite"


@dataclass
class Pair:
    """One image at two points of the rule list, with every place it is written."""

    first: str
    second: str
    places: list[str] = field(default_factory=list)

    @property
    def first_ref(self) -> ImageRef:
        return parse(self.first)

    @property
    def second_ref(self) -> ImageRef:
        return parse(self.second)


@dataclass
class Stages:
    pairs: list[Pair]
    warnings: list[str]
    failures: list[str]


def _place(found: Found) -> str:
    where = f"document {found.document}"
    if found.source:
        where += f" ({found.source})"
    resource = f"{found.kind}/{found.namespace + '/' if found.namespace else ''}{found.name}"
    return f"{where}: {resource}: {found.path}"


def run_rules(config, data: bytes, rules) -> tuple[list[Found], object]:
    from postrender.pipeline import run_stream

    staged = copy.copy(config)  # loader.Config is a plain class (issue 16)
    staged.rules = list(rules)
    result = run_stream(staged, data)
    return inventory(result.stream.documents, ImageTable.of(config)), result


def _keyed(found: list[Found]) -> dict[tuple, Found]:
    out: dict[tuple, Found] = {}
    seen: dict[tuple, int] = {}
    for f in found:
        base = (f.document, f.path)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out[base + (n,)] = f
    return out


def stages(config, data: bytes, first_rules, second_rules) -> Stages:
    """Run the two rule lists on the same input and pair the images by location.

    Warnings and check failures are those of the second run (the one the cluster gets); a
    location only the second run has (a document a rule generated) pairs with itself.
    """
    second, result = run_rules(config, data, second_rules)
    if list(first_rules) == list(second_rules):
        first = second
    else:
        first, _ = run_rules(config, data, first_rules)
    before = _keyed(first)
    warnings = list(result.warnings)
    by_images: dict[tuple[str, str], Pair] = {}
    invalid: set = set()
    for key, found in _keyed(second).items():
        start = before.get(key, found)
        values = (start.image, found.image)
        bad = next((v for v in values if not is_reference(v)), None)
        if bad is not None:
            shown = bad if isinstance(bad, str) else repr(bad)
            if shown not in invalid:
                invalid.add(shown)
                warnings.append(f"{_place(found)}: {shown!r} is not a valid image reference; skipped")
            continue
        pair = by_images.setdefault(values, Pair(*values))
        pair.places.append(_place(found))
    pairs = sorted(by_images.values(), key=lambda p: (p.second, p.first))
    return Stages(pairs, warnings, list(result.failures))


def without(rules, *names) -> list:
    return [r for r in rules if r.name not in names]


def mirror_stages(config, data: bytes) -> Stages:
    """(source, destination) per image: every rule but registryRewrite vs every rule."""
    return stages(config, data, without(config.rules, PIN, REWRITE), without(config.rules, PIN))


def lock_stages(config, data: bytes) -> Stages:
    """(name pinDigests sees, where it is pulled from) per image."""
    rules = list(config.rules)
    first_pin = next((i for i, r in enumerate(rules) if r.name == PIN), len(rules))
    return stages(config, data, without(rules[:first_pin], PIN), without(rules, PIN))


def same_version(a: ImageRef, b: ImageRef) -> bool:
    """Same tag (``latest`` when none) and same digest: the same image under two names."""
    return (a.tag or "latest") == (b.tag or "latest") and a.digest == b.digest
