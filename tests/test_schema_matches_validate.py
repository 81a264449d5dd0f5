"""`postrender schema` and `postrender validate` agree (issue 14: "Schema = validate").

Every config the project ships or documents (README.md, docs/, examples/, tests/data,
tests/cases, the rule modules' docstrings, the `postrender init` starter) goes through the JSON
Schema (the `jsonschema` package) and through validate, and must get the same verdict.  A table
of constraints, each written as a config that breaks it, shows both reject each one, and a table
of edge cases that both accept.  Fragments in the docs (a `rules:` list, one rule entry) are
completed with the header; the variables documented configs use come from VARIABLES, the
template files they name are created empty.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml

from postrender.config.configschema import config_json_schema, starter_config
from postrender.config.loader import ENTRY_KEYS, TOP_FIELDS, load_config
from postrender.errors import ConfigError
from postrender.rules import REGISTRY
from tests.conftest import CONFIG_HEADER

ROOT = Path(__file__).resolve().parents[1]
# Values for the variables documented configs use (a documented config is run with --set).
VARIABLES = {
    "policy": "IfNotPresent", "pullSecret": "regcred", "mirror": "mirror.example.com",
    "registry": "registry.example.com", "username": "robot", "password": "not-a-real-password",
    "mirrorConfig": "mirror.example.com", "registryMirrorConfig": "mirror.example.com",
    "replicas": "2", "team": "platform", "environment": "staging", "namespace": "apps",
    "image_tag": "1.2.3", "tag": "1.2.3", "version": "1.2.3",
}
_FENCE = re.compile(r"^( *)```ya?ml\n(.*?)^\1```", re.MULTILINE | re.DOTALL)
_HEREDOC = re.compile(r"<<'?(\w+)'?\n(.*?)^\1$", re.MULTILINE | re.DOTALL)
_DOCSTRING_BLOCK = re.compile(r"((?:^    .*\n|^\n)+)", re.MULTILINE)


def _as_config(text: str) -> str | None:
    """The block as a whole config, or None when it is not (part of) a postrender config."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if isinstance(data, dict) and data.get("apiVersion") == "postrender/v1alpha1":
        return text if data.get("kind") == "PostRenderer" else None  # not an ImageLock
    if isinstance(data, dict) and data and set(data) <= set(TOP_FIELDS):
        return CONFIG_HEADER + text
    if isinstance(data, list) and data and all(
            isinstance(e, dict) and len([k for k in e if k not in ENTRY_KEYS]) == 1
            and next(k for k in e if k not in ENTRY_KEYS) in REGISTRY for e in data):
        return CONFIG_HEADER + "rules:\n" + textwrap.indent(text, "  ")
    return None


def shipped_configs() -> list[tuple[str, str, Path | None]]:
    """(name, config text, directory it lives in or None) for every config the project shows."""
    found: list[tuple[str, str, Path | None]] = []
    for path in sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), *(ROOT / "examples").rglob("*.md")]):
        text = path.read_text()
        blocks = [textwrap.dedent(b) for _, b in _FENCE.findall(text)]
        # README recipes write configs with shell heredocs (cat > postrender.yaml <<'EOF').
        blocks += [re.sub(r"\$\([^)]*\)", "/usr/local/bin/postrender", b) for _, b in _HEREDOC.findall(text)]
        for i, block in enumerate(blocks):
            config = _as_config(block)
            if config is not None:
                found.append((f"{path.relative_to(ROOT)}#{i}", config, None))
    for path in sorted([*(ROOT / "examples").rglob("*.yaml"), *(ROOT / "tests" / "data").glob("*.yaml"),
                        *(ROOT / "tests" / "cases").rglob("config.yaml")]):
        text = path.read_text()
        if _as_config(text) is not None and "postrender/v1alpha1" in text:
            found.append((str(path.relative_to(ROOT)), text, path.parent))
    for name in REGISTRY:
        module = REGISTRY[name]
        for i, block in enumerate(_DOCSTRING_BLOCK.findall(module.__doc__ or "")):
            config = _as_config(textwrap.dedent(block))
            if config is not None:
                found.append((f"{module.__name__} docstring #{i}", config, None))
    found.append(("postrender init", starter_config(), None))
    return found


SHIPPED = shipped_configs()


@pytest.fixture(scope="module")
def schema_validator():
    schema = config_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema_verdict(validator, text: str) -> str | None:
    errors = sorted(validator.iter_errors(yaml.safe_load(text)), key=lambda e: list(e.path))
    return None if not errors else f"{list(errors[0].absolute_path)}: {errors[0].message[:200]}"


def validate_verdict(text: str, tmp_path: Path, directory: Path | None = None) -> str | None:
    """postrender validate's verdict (in-process: the same load_config the command runs)."""
    if directory is None:
        directory = tmp_path / "config"
        directory.mkdir(exist_ok=True)
        # Template files a documented config names: there, and rendering to nothing.
        for template in re.findall(r"^\s*template:\s*([^\s#]+)", text, re.MULTILINE):
            if not template.startswith("builtin:"):
                (directory / template).parent.mkdir(parents=True, exist_ok=True)
                (directory / template).write_text("{# stands for the user's template #}\n")
    path = directory / "schema-check.yaml"
    path.write_text(text)
    try:
        load_config(path, sets=[f"{k}={v}" for k, v in VARIABLES.items()], environ={}, check_templates=True)
    except ConfigError as exc:
        return str(exc)
    finally:
        path.unlink()
    return None


def test_the_shipped_configs_are_found():
    names = [name for name, _, _ in SHIPPED]
    # One per place, so that a change to the extraction cannot silently drop a whole source.
    for source in ("README.md#", "docs/pull-secrets.md#", "docs/images.md#", "docs/patches.md#",
                   "examples/offline-mirror/postrender.yaml", "examples/patches/postrender.yaml", "tests/data/standard-rules.yaml", "tests/cases/",
                   "postrender.rules.patch docstring", "postrender init"):
        assert any(n.startswith(source) for n in names), (source, names)


@pytest.mark.parametrize("name, text, directory", SHIPPED, ids=[n for n, _, _ in SHIPPED])
def test_every_shipped_config_is_valid_for_both(schema_validator, tmp_path, name, text, directory):
    assert validate_verdict(text, tmp_path, directory) is None
    assert schema_verdict(schema_validator, text) is None


def rule(body: str) -> str:
    return CONFIG_HEADER + "rules:\n" + textwrap.indent(textwrap.dedent(body), "  ")


# Each row breaks one constraint validate enforces; the schema must reject it too.  The rules
# are switched on (no `when`), and the same rows with `when: false` appended are checked too:
# a rule that is off must still be a valid rule.
INVALID = {
    "unknown top-level key": CONFIG_HEADER + "rulez: []\n",
    "wrong apiVersion": "apiVersion: v2\nkind: PostRenderer\n",
    "missing kind": "apiVersion: postrender/v1alpha1\n",
    "vars not a mapping": CONFIG_HEADER + "vars: [a]\n",
    "podSpecPaths entry without path": CONFIG_HEADER + "podSpecPaths: [{kind: Worker}]\n",
    "podSpecPaths empty component": CONFIG_HEADER + "podSpecPaths: [{kind: Worker, path: spec..pod}]\n",
    "argsOneLiner not a string": CONFIG_HEADER + "argsOneLiner: [a]\n",
    "rule entry not a mapping": CONFIG_HEADER + "rules: [imagePullPolicy]\n",
    "unknown rule": rule("- pullPolicy: {policy: Never}\n"),
    "two rule keys": rule("- imagePullPolicy: {policy: Never}\n  imagePullSecrets: {names: [a]}\n"),
    "no rule key": rule("- when: true\n"),
    "bad choice": rule("- imagePullPolicy: {policy: Sometimes}\n"),
    "missing required option": rule("- imagePullPolicy: {onlyIfUnset: true}\n"),
    "unknown option": rule("- imagePullPolicy: {policy: Never, bogus: 1}\n"),
    "bool option a string": rule("- imagePullPolicy: {policy: Never, onlyIfUnset: 'yes'}\n"),
    "expect not a count": rule("- imagePullPolicy: {policy: Never}\n  expect: lots\n"),
    "expect negative": rule("- imagePullPolicy: {policy: Never}\n  expect: -1\n"),
    "when a number": rule("- imagePullPolicy: {policy: Never}\n  when: 1\n"),
    "target unknown key": rule("- imagePullPolicy: {policy: Never}\n  target: {kinds: Deployment}\n"),
    "exclude not a list": rule("- imagePullPolicy: {policy: Never}\n  target: {exclude: {kind: Pod}}\n"),
    "resources with template and inline": rule("- resources: {template: a.j2, inline: 'kind: X'}\n"),
    "resources with neither": rule("- resources: {}\n"),
    "patch with two kinds": rule("- patch: {merge: {a: 1}, strategicMerge: {b: 2}}\n"),
    "patch with none": rule("- patch: {allowKindChange: true}\n"),
    "json6902 operation without op": rule("- patch: {json6902: [{path: /a, value: 1}]}\n"),
    "json6902 not a list": rule("- patch: {json6902: {op: add}}\n"),
    "merge patch a number": rule("- patch: {merge: 3}\n"),
    "json6902 without target": rule("- patch: {json6902: [{op: add, path: /a, value: 1}]}\n"),
    "json6902 with a null target": rule("- patch: {json6902: [{op: add, path: /a, value: 1}]}\n  target: null\n"),
    "imagePullSecrets no names": rule("- imagePullSecrets: {names: []}\n"),
    "imagePullSecrets bad name": rule("- imagePullSecrets: {names: [Reg_Cred]}\n"),
    "imagePullSecrets bad registry": rule("- imagePullSecrets: {names: [a], registries: ['docker.io/x:1']}\n"),
    "pullSecret bad name": rule("- pullSecret: {name: 'a b'}\n"),
    "pullSecret credentials not a variable name": rule("- pullSecret: {name: a, credentials: {password: '{{ x }}'}}\n"),
    "allowedRegistries empty": rule("- allowedRegistries: {registries: []}\n"),
    "allowedRegistries with a tag": rule("- allowedRegistries: {registries: ['quay.io/a:latest']}\n"),
    "allowedRegistries bad action": rule("- allowedRegistries: {registries: [quay.io], action: stop}\n"),
    "registryRewrite no mirrors": rule("- registryRewrite: {mirrors: []}\n"),
    "registryRewrite bad prefix": rule("- registryRewrite: {mirrors: [{from: 'docker.io/Foo', to: quay.io}]}\n"),
    "registryRewrite missing to": rule("- registryRewrite: {mirrors: [{from: docker.io}]}\n"),
    "images empty": rule("- images: []\n"),
    "images a string": rule("- images: nginx\n"),
    "images number tag": rule("- images: [{name: nginx, newTag: 1.27}]\n"),
    "images entry without name": rule("- images: [{newTag: '1'}]\n"),
    "images mapping without entries": rule("- images: {normalize: true}\n"),
    "pullSecretReferences bad action": rule("- pullSecretReferences: {action: ignore}\n"),
}


# Rows whose rule entry `when: false` can switch off (the rest break the file or the entry itself).
_SWITCHABLE = [n for n, t in INVALID.items() if "rules:\n  - " in t
               and n not in ("no rule key", "when a number", "rule entry not a mapping")]


@pytest.mark.parametrize("name, switched_off", [(n, False) for n in sorted(INVALID)] + [(n, True) for n in sorted(_SWITCHABLE)],
                         ids=[n for n in sorted(INVALID)] + [f"{n} (when: false)" for n in sorted(_SWITCHABLE)])
def test_both_reject_each_constraint(schema_validator, tmp_path, name, switched_off):
    text = INVALID[name]
    if switched_off:
        text = text.rstrip("\n") + "\n    when: false\n"
    assert validate_verdict(text, tmp_path) is not None, "validate accepted it"
    assert schema_verdict(schema_validator, text) is not None, "the schema accepted it"


VALID = {
    "templates wherever a string goes": rule("""\
        - imagePullPolicy: {policy: "{{ policy }}", onlyIfUnset: false}
          target: {kind: "{{ 'Deployment' }}", exclude: [{name: "{{ 'x' }}"}]}
        - imagePullSecrets: {names: ["{{ pullSecret }}"], registries: ["{{ registry }}"]}
        - allowedRegistries: {registries: ["{{ mirror }}", quay.io], action: "{{ 'warn' }}"}
        - registryRewrite: {mirrors: [{from: docker.io, to: "{{ mirror }}/dockerhub"}]}
        - pullSecret: {name: "{{ pullSecret }}"}
        """),
    "nulls read as defaults": CONFIG_HEADER + "metadata:\nvars:\npodSpecPaths:\nrules:\n",
    "null options": rule("- imagePullPolicy: {policy: Never, onlyIfUnset: null}\n  target: null\n  when: null\n  expect: null\n"),
    "expect forms": rule("- imagePullPolicy: {policy: Never}\n  expect: ' >= 0 '\n- imagePullPolicy: {policy: Never}\n  expect: 0\n"),
    "resources with one null": rule("- resources: {inline: '', template: null}\n"),
    "patch forms": rule("""\
        - patch: {merge: {spec: {replicas: 2}}, strategicMerge: null}
        - patch: {json6902: [{op: add, path: /metadata/labels/a, value: b}]}
          target: {kind: Deployment}
        - patch: {json6902: "- {op: remove, path: /spec/replicas}"}
          target: {name: web}
        - patch: {strategicMerge: "metadata: {labels: {a: b}}"}
        """),
    "images both shapes": rule("""\
        - images: [{name: nginx, newTag: "1.27"}]
        - images: {entries: [{name: busybox, newName: quay.io/prometheus/busybox}], normalize: true}
        """),
    "kustomize's plugin arguments": CONFIG_HEADER + "metadata: {name: p}\nargsOneLiner: --explain\nargsFromFile: args.txt\n",
    "secret names with blanks": rule("- imagePullSecrets: {names: [' regcred ']}\n"),
    "pull secret credentials": rule("- pullSecret: {name: r, credentials: {password: registryAuth.password}}\n"),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_both_accept_each_edge_case(schema_validator, tmp_path, name):
    text = VALID[name]
    assert validate_verdict(text, tmp_path) is None
    assert schema_verdict(schema_validator, text) is None


def test_schema_command_prints_the_schema(cli):
    r = cli(["schema"])
    assert r.code == 0 and json.loads(r.text) == json.loads(json.dumps(config_json_schema()))


# ---- the patterns the schema carries say what the rules' checks say -------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

from postrender.images.reference import MIRROR_PREFIX_PATTERN, InvalidImageReference, normalize_mirror_prefix  # noqa: E402
from postrender.rules.image_pull_secrets import SECRET_NAME_PATTERN, check_secret_name  # noqa: E402
from tests.conftest import CONFIG_HEADER

_PREFIX_TEXT = st.text(alphabet="ab5.:/_-A[]@l", min_size=0, max_size=16) | st.sampled_from([
    "docker.io", "docker.io/bitnami/", "localhost", "localhost/x", "localhost:5000", "[::1]:5000", "Foo",
    "a_b.c/x", "foo/bar:tag", "a" * 64, "a" * 64 + "/", "Foo/bar", "[a]/b", "registry.k8s.io/ingress-nginx"])


def _prefix_ok(text: str) -> bool:
    try:
        normalize_mirror_prefix(text)
    except InvalidImageReference:
        return False
    return True


@settings(max_examples=3000, deadline=None)
@given(_PREFIX_TEXT)
def test_mirror_prefix_pattern_is_normalize_mirror_prefix(text):
    assert bool(re.fullmatch(MIRROR_PREFIX_PATTERN, text)) == _prefix_ok(text)


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="ab-.9 _A", min_size=0, max_size=12) | st.sampled_from(["a" * 253, "a" * 254, " a ", ""]))
def test_secret_name_pattern_is_check_secret_name(text):
    assert bool(re.fullmatch(SECRET_NAME_PATTERN, text)) == (check_secret_name(text.strip()) is None)
