"""Load and validate the config up front; build the rules once.

Precedence of variables (lowest first): ``vars:`` in the config < ``--values FILE`` (in order)
< environment ``POSTRENDER_VAR_<NAME>`` (``__`` nests: ``POSTRENDER_VAR_registry__user``)
< ``--set key=value`` / ``--set-file key=path`` (dotted keys nest).  ``--set`` values are
strings (like ``helm --set-string``): they only ever feed templates.

Every error names the file, line and column and the path inside the config
(``postrender.yaml:7:9: rules[0].imagePullPolicy.policy: must be one of ...``).
"""

from __future__ import annotations

import os
import re

from postrender.config import templating
from postrender.errors import ConfigError
from postrender.engine.redaction import register_secrets, register_users, secret_text
from postrender.kinds import FieldPath, PodSpecTable
from postrender.config.schema import Field, SchemaError, check, check_fields, path_text
from postrender.records import Record

API_VERSION = "postrender/v1alpha1"
KIND = "PostRenderer"
DEFAULT_FILE = "postrender.yaml"
ENV_CONFIG = "POSTRENDER_CONFIG"
ENV_VAR_PREFIX = "POSTRENDER_VAR_"
# Variables whose names say they are credentials are redacted from every message.
_SENSITIVE_NAME = re.compile(r"pass(word)?|token|secret|auth|credential|dockerconfig|key$", re.I)
# ... except names that, by Kubernetes and Helm convention, hold the *name* of a Secret
# (``pullSecret: regcred``, ``existingSecret``, ``tlsSecretName``): that name is written in the
# clear into every manifest that references it, and redacting it made ``--explain`` and
# ``diff`` say ``Secret/tools/<redacted>`` (issue 7).  Values nested under such a name are
# still judged by their own names (``pullSecret.password`` stays secret).
_SECRET_NAME_NAME = re.compile(r"(image)?pullsecrets?|existingsecret|\w*secretnames?|\w*secretref", re.I)
# Variables that hold a user name: base64("user:secret") is redacted for each (the ``auth`` of
# a registry credential, HTTP basic auth).
_USER_NAME = re.compile(r"(user(name)?|login)$", re.I)

# Sizes beyond any real config: a config or values file of 4 MiB is thousands of rules, and a
# variable can end up only in a manifest, which Kubernetes caps at ~1.5 MiB (a Secret's data at
# 1 MiB).  Checked before parsing, so a 50 MB file costs a stat() and not a minute of YAML.
MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_VARIABLE_BYTES = 4 * 1024 * 1024
# YAML aliases may repeat a node; a "billion laughs" config repeats them exponentially.  Real
# configs reuse an anchor a few times: 100,000 nodes reached again through aliases is plenty.
MAX_ALIAS_EXPANSION = 100_000

TARGET_FIELDS = {
    name: Field("str", doc=f"anchored regex on the resource's {name}")
    for name in ("group", "version", "kind", "name", "namespace")
} | {
    "labelSelector": Field("str", doc="Kubernetes label selector (a=b,c!=d,e in (f,g),!h)"),
    "annotationSelector": Field("str", doc="Kubernetes selector over annotations"),
}
TARGET_SPEC = Field("map", fields=TARGET_FIELDS | {
    "exclude": Field("list", items=TARGET_FIELDS, doc="resources matching any of these are not selected"),
}, doc="which resources the rule applies to (kustomize selector semantics)")

PATH_ENTRY = {
    "kind": Field("str", required=True),
    "group": Field("str", doc="API group; omit to match any group"),
    "path": Field("str", required=True, pattern=r"[^./]+(?:[./][^./]+)*", pattern_doc="a dotted path",
                  doc="dotted path, [] walks list items: spec.jobTargetRef.template.spec"),
}

EXCLUDE_ENTRY = {
    "kind": Field("str", doc="only in resources of this kind; omit for every kind"),
    "group": Field("str", doc="API group; omit to match any group"),
    "path": Field("str", required=True, doc="dotted path, [] walks list items: nothing at or under it is an image"),
}
IMAGE_DISCOVERY = {
    "generic": Field("bool", default=True,
                     doc="also take any containers[]/initContainers[] item and any valid image key of other kinds"),
    "exclude": Field("list", items=EXCLUDE_ENTRY, default=None, doc="paths where no image is taken"),
}

TOP_FIELDS = {
    "apiVersion": Field("str", required=True, choices=(API_VERSION,)),
    "kind": Field("str", required=True, choices=(KIND,)),
    "metadata": Field("map", doc="optional, ignored (kustomize requires metadata.name in plugin configs)"),
    "vars": Field("map", default=None, doc="template variables (defaults)"),
    "podSpecPaths": Field("list", items=PATH_ENTRY, default=None, doc="extra kinds that embed pod specs"),
    "imageFields": Field("list", items=PATH_ENTRY, default=None, doc="extra fields that hold an image reference"),
    "imageDiscovery": Field("map", fields=IMAGE_DISCOVERY, default=None,
                            doc="where images are looked for beyond the tables (docs/images.md)"),
    "rules": Field("list", default=None, doc="applied in order, each to the output of the previous one"),
    # Read by kustomize, not by postrender: extra arguments for the exec plugin (kustomize's
    # execplugin appends them after the config file's path), e.g. argsOneLiner: --set-file k=path.
    "argsOneLiner": Field("str", doc="kustomize exec plugin: arguments appended to the command line"),
    "argsFromFile": Field("str", doc="kustomize exec plugin: a file with one argument per line"),
}
# What `expect:` accepts besides a whole number >= 0: a count with an optional comparison.
EXPECT_PATTERN = r"\s*(==|>=|<=|>|<)?\s*([0-9]+)\s*"
ENTRY_KEYS = {"target", "when", "expect"}


class BuildContext(Record):
    """What a rule's ``build`` gets.  ``config_dir``: the config file's directory (a string or
    a path object), where relative template and lock file paths start.  ``locate``: path tuple
    -> "file:line:col".  ``image_discovery``: images.discovery.DiscoveryOptions, when the config
    has imageDiscovery.  ``sensitive``: values a rule knows to be secret (e.g. the pullSecret
    rule's credentials), redacted like the variables whose names look like credentials.
    ``literals``: the text of every number and boolean a YAML file set (path tuple -> "0755"):
    see as_text."""

    _fields = ("variables", "source", "config_dir", "pod_specs", "image_fields", "locate", "image_discovery",
               "sensitive", "literals")

    def __init__(self, variables: dict, source: str, config_dir, pod_specs: PodSpecTable, image_fields: list,
                 locate, image_discovery=None, sensitive: list | None = None, literals: dict | None = None):
        self.variables = variables
        self.source = source
        self.config_dir = config_dir
        self.pod_specs = pod_specs
        self.image_fields = image_fields
        self.locate = locate
        self.image_discovery = image_discovery
        self.sensitive = [] if sensitive is None else sensitive
        self.literals = {} if literals is None else literals

    def add_secret(self, value: str) -> None:
        """Mark a value as secret: redacted from every message from now on."""
        self.sensitive.append(value)
        register_secrets([value])

    def as_text(self, dotted: str, value):
        """A scalar variable as text, the way it was written: credential code builds strings
        (a .dockerconfigjson, an auth header), and a YAML 1.1 number is not what the user
        typed (``password: 0755`` in a values file is 493 to YAML, ``0755`` to the user).
        Collections and the other values pass through unchanged."""
        if isinstance(value, (bool, int, float)):
            literal = self.literals.get(tuple(dotted.split(".")))
            if literal is not None:
                return literal
            return str(value).lower() if isinstance(value, bool) else secret_text(value)
        return value

    def render(self, value, path: tuple, raw_keys=frozenset()):
        """Render every template string in value (except under raw_keys) with the variables."""
        if isinstance(value, str):
            if not templating.is_template(value):
                return value
            try:
                return templating.render(value, self.variables)
            except templating.TemplateError as exc:
                raise ConfigError(f"{self.locate(path)}: {path_text(path)}: {exc}") from None
        if isinstance(value, list):
            return [self.render(v, path + (i,)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: (v if k in raw_keys else self.render(v, path + (k,))) for k, v in value.items()}
        return value

    def error(self, path: tuple, message: str) -> ConfigError:
        return ConfigError(f"{self.locate(path)}: {path_text(path)}: {message}")


class Config(Record):
    _fields = ("source", "variables", "rules", "pod_specs", "image_fields", "sensitive", "image_discovery")

    def __init__(self, source: str, variables: dict, rules: list, pod_specs: PodSpecTable,
                 image_fields: list | None = None, sensitive: list | None = None, image_discovery=None):
        self.source = source
        self.variables = variables
        self.rules = rules
        self.pod_specs = pod_specs
        self.image_fields = [] if image_fields is None else image_fields
        self.sensitive = [] if sensitive is None else sensitive
        self.image_discovery = image_discovery


# ---- variables ----------------------------------------------------------------------------

def _set_dotted(target: dict, dotted: str, value, origin: str) -> None:
    parts = dotted.split(".")
    if not all(parts):
        raise ConfigError(f"{origin}: {dotted!r} is not a variable name (use a.b.c)")
    node = target
    for part in parts[:-1]:
        nxt = node.get(part)
        if not isinstance(nxt, dict):
            nxt = node[part] = {}
        node = nxt
    node[parts[-1]] = value


def deep_merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _sensitive_values(variables: dict, forced: set, literals: dict | None = None) -> list[str]:
    """Every secret value among the variables, registered for redaction; any length.

    A number under a credential's name is a secret too, as the text it was written as and as
    Python prints it (``0755`` and ``493``: a template renders the latter).  Booleans are not
    (``auth: {enabled: true}`` would make every "true" a secret).
    """
    found: list[str] = []
    users: list[str] = []
    literals = literals or {}

    def walk(path: tuple, value, sensitive):
        if isinstance(value, dict):
            for k, v in value.items():
                name = path + (str(k),)
                by_name = bool(_SENSITIVE_NAME.search(str(k))) and not _SECRET_NAME_NAME.fullmatch(str(k))
                walk(name, v, sensitive or by_name or ".".join(map(str, name)) in forced)
                if isinstance(v, (str, int)) and not isinstance(v, bool) and _USER_NAME.search(str(k)):
                    users.append(literals.get(name, str(v)))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(path + (i,), item, sensitive)
        elif sensitive and isinstance(value, str):
            found.append(value)
        elif sensitive and isinstance(value, (int, float)) and not isinstance(value, bool):
            found.extend(t for t in (literals.get(path), secret_text(value)) if t is not None)

    walk((), variables, False)
    found = [v for v in dict.fromkeys(found) if v]
    register_users(users)
    register_secrets(found)
    return found


def collect_variables(config_vars, values_files=(), sets=(), set_files=(), environ=None):
    """Merge the variable layers; returns (variables, sensitive values)."""
    variables, sensitive, _literals = _collect(config_vars, {}, values_files, sets, set_files, environ)
    return variables, sensitive


def _collect(config_vars, config_literals: dict, values_files=(), sets=(), set_files=(), environ=None):
    """(variables, sensitive values, literals): literals maps the path of every number or
    boolean a YAML layer set to the text it was written as; a later YAML layer's entry wins,
    and a later string layer makes the value a string, which never consults it."""
    variables = dict(config_vars or {})
    literals = dict(config_literals)
    for path in values_files:
        located = _compose(_read_text(shown_path(path), "values file"), str(path))
        data = located.data
        if data is None:
            continue
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a values file must be a mapping of variable names to values")
        variables = deep_merge(variables, data)
        literals.update(located.literals)
    env = os.environ if environ is None else environ
    env_layer: dict = {}
    for name, value in env.items():
        if name.startswith(ENV_VAR_PREFIX) and len(name) > len(ENV_VAR_PREFIX):
            _check_variable_size(value, f"environment {name}")
            _set_dotted(env_layer, name[len(ENV_VAR_PREFIX):].replace("__", "."), value, f"environment {name}")
    variables = deep_merge(variables, env_layer)
    cli_layer: dict = {}
    forced: set = set()
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            # Not quoted back: an argument without "=" may well be the value alone.
            raise ConfigError("--set: expected key=value, got an argument without '='")
        _check_variable_size(value, f"--set {key}")
        _set_dotted(cli_layer, key.strip(), value, f"--set {key}")
    for item in set_files:
        key, sep, path = item.partition("=")
        if not sep:
            raise ConfigError(f"--set-file {key!r}: expected key=path")
        try:
            data = read_capped(path, MAX_VARIABLE_BYTES)
            if data is None:
                raise ConfigError(f"--set-file {key}: {path} is over the limit of {_size(MAX_VARIABLE_BYTES)} for a"
                                  " variable (Kubernetes rejects objects over 1.5 MiB)")
            value = data.decode("utf-8")
        except OSError as exc:
            raise ConfigError(f"--set-file {key}: cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"--set-file {key}: {path} is not UTF-8 text") from None
        # Secret files usually end with a line break that is not part of the secret: one "\n",
        # or one "\r\n" from a file saved on Windows (the "\r" would end up in the password).
        value = value.removesuffix("\r\n") if value.endswith("\r\n") else value.removesuffix("\n")
        _set_dotted(cli_layer, key.strip(), value, f"--set-file {key}")
        forced.add(key.strip())
    variables = deep_merge(variables, cli_layer)
    return variables, _sensitive_values(variables, forced, literals), literals


def read_capped(path, limit: int) -> bytes | None:
    """The file's bytes, or None when it holds more than limit.  Reads at most limit + 1 bytes,
    so a huge file, /dev/zero or an endless pipe costs nothing; pipes stay allowed
    (``--set-file password=<(pass show registry)``, ``-c <(...)``)."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    return None if len(data) > limit else data


def _size(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def _check_variable_size(value: str, origin: str) -> None:
    """A variable from the environment or argv: not too big, and UTF-8 (Python keeps invalid
    bytes there as lone surrogates, which no manifest, JSON or base64 can carry)."""
    if len(value) > MAX_VARIABLE_BYTES:
        raise ConfigError(f"{origin}: the value is {_size(len(value))}; a variable may be at most"
                          f" {_size(MAX_VARIABLE_BYTES)} (pass big values with --set-file)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # the value is not quoted back: it may be a secret
        raise ConfigError(f"{origin}: the value is not UTF-8 text") from None


# ---- loading ------------------------------------------------------------------------------

class Located:
    """Plain config data plus the line/column of every key and item (for error messages).

    The config is read with libyaml's composer (already loaded for manifests) rather than
    ruamel.yaml: it reports positions just as well and keeps start-up fast, which matters because
    Helm runs postrender once per release render.
    """

    def __init__(self, data, positions: dict, literals: dict | None = None):
        self.data = data
        self.positions = positions
        # path -> source text of each plain scalar that is not a string (0755, 1e3, yes)
        self.literals = literals if literals is not None else {}


def _compose(text: str, source: str) -> Located:
    import yaml
    from yaml.error import MarkedYAMLError

    from postrender.engine import kube_yaml as _kube
    from postrender.engine import locate as _loc

    try:
        node = yaml.compose(text, Loader=yaml.CSafeLoader)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise ConfigError(f"{where}: invalid YAML: {exc.problem or exc.context}") from None
    except yaml.reader.ReaderError as exc:  # a NUL or other refused character: no mark, not Marked
        err = _loc.reader_error(exc, text)
        raise ConfigError(f"{source}:{err.line + 1}:{err.column + 1}: invalid YAML: {err.problem}") from None
    positions: dict = {}
    built: set = set()
    again = 0
    first_repeated = None

    def build(n, path):
        nonlocal again, first_repeated
        if id(n) in built:  # reached again through an alias
            again += 1
            first_repeated = first_repeated or n.start_mark
            if again > MAX_ALIAS_EXPANSION:
                mark = first_repeated
                raise ConfigError(
                    f"{source}:{mark.line + 1}:{mark.column + 1}: aliases repeat the anchor defined here"
                    f" into more than {MAX_ALIAS_EXPANSION:,} nodes (a 'billion laughs' document?); write the values out")
        else:
            built.add(id(n))
        positions.setdefault(path, (n.start_mark.line, n.start_mark.column))
        if isinstance(n, yaml.MappingNode):
            out = {}
            for k, v in n.value:
                key = _kube.key_string(build(k, path + ("<key>",))) if isinstance(k, yaml.ScalarNode) else str(build(k, path + ("<key>",)))
                if key in out:
                    raise ConfigError(f"{source}:{k.start_mark.line + 1}:{k.start_mark.column + 1}: duplicate key {key!r}")
                positions[path + (key,)] = (k.start_mark.line, k.start_mark.column)
                out[key] = build(v, path + (key,))
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(v, path + (i,)) for i, v in enumerate(n.value)]
        if not n.style:  # plain scalars resolve as in manifests and Helm values (go-yaml v2)
            value = _kube.resolve_plain(n.value)
            if value is not None and not isinstance(value, str):
                literals[path] = n.value
            return value
        return n.value

    literals: dict = {}
    return Located(None if node is None else build(node, ()), positions, literals)


def _read_text(path, what: str) -> str:
    """A config or values file's text; ConfigError for a missing, huge or non-UTF-8 file."""
    try:
        data = read_capped(path, MAX_CONFIG_BYTES)
        if data is None:
            raise ConfigError(f"{path}: the {what} is over the limit of {_size(MAX_CONFIG_BYTES)}"
                              " (pass big values with --set-file)")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, expected a {what}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(f"{path}:{line}:{column}: the {what} is not UTF-8 text (byte 0x{data[exc.start]:02x});"
                          " save it as UTF-8") from None


def _locator(located: Located, source: str):
    def locate(path: tuple) -> str:
        # The deepest known prefix of the path (a rule's options may be rendered or defaulted).
        for n in range(len(path), -1, -1):
            pos = located.positions.get(tuple(path[:n]))
            if pos is not None:
                return f"{source}:{pos[0] + 1}:{pos[1] + 1}"
        return source

    return locate


def shown_path(path) -> str:
    """``path`` (a string or path object) written the way ``pathlib`` writes it, as messages
    always have (``./c.yaml`` -> ``c.yaml``, ``a//b/`` -> ``a/b``), without importing pathlib
    on the run path (issue 16)."""
    path = os.fspath(path)
    if os.sep != "/" or not isinstance(path, str):
        from pathlib import Path

        return str(Path(path))
    # pathlib (PurePosixPath): exactly two leading slashes are kept, more are one; empty and "."
    # components go; ".." stays.
    root = "//" if path.startswith("//") and not path.startswith("///") else "/" if path.startswith("/") else ""
    return root + "/".join(p for p in path.split("/") if p and p != ".") or "."


def find_config(explicit: str | None) -> str:
    """The config file's path, as a string."""
    if explicit:
        return shown_path(explicit)
    env = os.environ.get(ENV_CONFIG)
    if env:
        return shown_path(env)
    if os.path.exists(DEFAULT_FILE):
        return DEFAULT_FILE
    raise ConfigError(
        f"no config: pass -c FILE, set ${ENV_CONFIG}, or create ./{DEFAULT_FILE} (postrender init writes a starter)"
    )


def load_config(path=None, values_files=(), sets=(), set_files=(), environ=None,
                check_templates: bool = False) -> Config:
    """``path``: a string or path object; None looks for the config (find_config)."""
    cfg_path = find_config(os.fspath(path) if path else None)
    text = _read_text(cfg_path, "config file")
    return load_config_text(text, cfg_path, values_files, sets, set_files, environ,
                            base_dir=os.path.dirname(cfg_path) or ".", check_templates=check_templates)


def load_config_text(text: str, source: str, values_files=(), sets=(), set_files=(), environ=None,
                     base_dir=None, check_templates: bool = False) -> Config:
    """``check_templates`` (postrender validate): also look for undefined variables on every
    branch of every template of the rules that run (config/undefined.py); a run finds those
    only on the branches it takes."""
    from postrender.rules import REGISTRY

    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{source}: the config is {_size(len(text))}; the limit is {_size(MAX_CONFIG_BYTES)}")
    located = _compose(text, source)
    locate = _locator(located, source)
    raw = located.data
    if raw is None:
        raise ConfigError(f"{source}: the config is empty; it needs apiVersion: {API_VERSION}, kind: {KIND} and rules:")
    try:
        top = check_fields(raw, TOP_FIELDS, ())
    except SchemaError as exc:
        raise ConfigError(f"{locate(exc.path)}: {path_text(exc.path) or 'config'}: {exc.message}") from None
    vars_literals = {path[1:]: text for path, text in located.literals.items() if path[:1] == ("vars",)}
    variables, sensitive, literals = _collect(top["vars"], vars_literals, values_files, sets, set_files, environ)

    def field_paths(entries, key):
        out = []
        for i, e in enumerate(entries or []):
            try:
                out.append(FieldPath.parse(e.get("group"), e["kind"], e["path"]))
            except ValueError as exc:
                raise ConfigError(f"{locate((key, i, 'path'))}: {key}[{i}].path: {exc}") from None
        return out

    ctx = BuildContext(variables, source, base_dir or ".", PodSpecTable(field_paths(top["podSpecPaths"], "podSpecPaths")),
                       field_paths(top["imageFields"], "imageFields"), locate, literals=literals,
                       image_discovery=_image_discovery(top["imageDiscovery"], locate))
    rules = []
    for i, entry in enumerate(top["rules"] or []):
        path = ("rules", i)
        if not isinstance(entry, dict):
            raise ctx.error(path, f"each rule is a mapping with one rule key ({', '.join(REGISTRY)}) plus optional target/when")
        kinds = [k for k in entry if k not in ENTRY_KEYS]
        if len(kinds) != 1:
            if not kinds:
                raise ctx.error(path, f"no rule key; use one of {', '.join(REGISTRY)}")
            raise ctx.error(path, f"one rule key per entry, found {', '.join(kinds)}; split them into separate entries")
        name = kinds[0]
        module = REGISTRY.get(name)
        if module is None:
            raise ctx.error(path + (name,), f"unknown rule {name!r}; valid rules: {', '.join(REGISTRY)}")
        when = entry.get("when")
        if when is not None:
            if isinstance(when, bool):
                enabled = when
            elif isinstance(when, str):
                try:
                    enabled = templating.evaluate(when, variables)
                except templating.TemplateError as exc:
                    raise ctx.error(path + ("when",), str(exc)) from None
                if check_templates:
                    _check_undefined([(("when",), when, variables, frozenset(), None)], path, locate, expression=True)
            else:
                raise ctx.error(path + ("when",), "must be a Jinja expression string, e.g. \"pullSecret is defined\"")
            if not enabled:
                _check_disabled(module, entry, name, path, locate)
                continue
        options = ctx.render(entry[name], path + (name,), getattr(module, "RAW_KEYS", frozenset()))
        try:
            spec = module.OPTIONS
            values = check_fields(options, spec, path + (name,)) if isinstance(spec, dict) else check(options, spec, path + (name,))
            target = check(ctx.render(entry.get("target"), path + ("target",)), TARGET_SPEC, path + ("target",))
            expect = entry.get("expect")
            if expect is not None:
                expect = _parse_expect(expect, path + ("expect",))
        except SchemaError as exc:
            raise ConfigError(f"{locate(exc.path)}: {path_text(exc.path)}: {exc.message}") from None
        rule = module.build(values, ctx, path + (name,))
        try:
            _check_needs_target(module, options, target, path + (name,))
        except SchemaError as exc:
            raise ConfigError(f"{locate(exc.path)}: {path_text(exc.path)}: {exc.message}") from None
        if check_templates:
            _check_undefined(
                _template_strings(entry[name], (name,), variables, skip=getattr(module, "RAW_KEYS", frozenset()))
                + _template_strings(entry.get("target"), ("target",), variables)
                + [((name,) + sub, *rest) for sub, *rest in rule.templates(variables)],
                path, locate)
        rule.index = i
        rule.where = locate(path)
        rule.target = _build_target(target, ctx, path + ("target",)) if target else None
        rule.expect = expect
        rule.configured(ctx, path + (name,))
        rules.append(rule)
    return Config(source, variables, rules, ctx.pod_specs, ctx.image_fields, sensitive + ctx.sensitive,
                  ctx.image_discovery)


def _image_discovery(options, locate):
    """The imageDiscovery block as images.discovery.DiscoveryOptions (imported only when present)."""
    if options is None:
        return None
    from postrender.images.discovery import DiscoveryOptions, ExcludedPath

    exclude = []
    for i, e in enumerate(options["exclude"] or []):
        try:
            exclude.append(ExcludedPath.parse(e.get("group"), e.get("kind"), e["path"]))
        except ValueError as exc:
            where = ("imageDiscovery", "exclude", i, "path")
            raise ConfigError(f"{locate(where)}: {path_text(where)}: {exc}") from None
    return DiscoveryOptions(options["generic"], exclude)


def _template_strings(value, path: tuple, variables: dict, skip=frozenset()) -> list:
    """Every template string in value as written, with its path (top-level keys in skip left
    out: the rule renders those itself and reports them through Rule.templates)."""
    found = []
    if isinstance(value, str) and templating.is_template(value):
        found.append((path, value, variables, frozenset(), None))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _template_strings(item, path + (i,), variables)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in skip:
                found += _template_strings(item, path + (key,), variables)
    return found


def _check_undefined(templates, path: tuple, locate, expression: bool = False) -> None:
    """postrender validate's static check: no template of a rule that runs may use an undefined
    variable on any branch (config/undefined.py), not only on the branch rendering took now."""
    from postrender.config.undefined import undefined_in_expression, undefined_in_template

    find = undefined_in_expression if expression else undefined_in_template
    for sub, text, variables, opaque, label in templates:
        try:
            uses = find(text, variables, opaque)
        except Exception:  # a syntax error: rendering or the rule's build reports it
            continue
        if uses:
            use = uses[0]
            where = f" at line {use.line} of the {label or 'template'}" if label or "\n" in text.strip() else ""
            at = path + sub
            raise ConfigError(f"{locate(at)}: {path_text(at)}: "
                              + templating.undefined_message(f"'{use.name}' is undefined{where}"))


def _check_disabled(module, entry: dict, name: str, path: tuple, locate) -> None:
    """A rule `when:` switched off is not built, but it must still be a valid rule: check it
    against the schema as written (a template stands for any string), as `postrender schema`
    does, so that turning it on later cannot reveal a typo."""
    spec = module.OPTIONS
    try:
        if isinstance(spec, dict):
            check_fields(entry[name], spec, path + (name,), static=True,
                         exactly_one=getattr(module, "EXACTLY_ONE_OF", ()),
                         raw_keys=getattr(module, "RAW_KEYS", frozenset()))
        else:
            check(entry[name], spec, path + (name,), static=True)
        check(entry.get("target"), TARGET_SPEC, path + ("target",), static=True)
        _check_needs_target(module, entry[name], entry.get("target"), path + (name,))
        if entry.get("expect") is not None:
            _parse_expect(entry["expect"], path + ("expect",))
    except SchemaError as exc:
        raise ConfigError(f"{locate(exc.path)}: {path_text(exc.path)}: {exc.message}") from None


def _check_needs_target(module, options, target, path: tuple) -> None:
    """A rule module's ``NEEDS_TARGET`` ({option: message}): that option only with a ``target:``
    (the patch rule's json6902, as kustomize requires); the JSON Schema says the same."""
    if target is None and isinstance(options, dict):
        for option, message in getattr(module, "NEEDS_TARGET", {}).items():
            if options.get(option) is not None:
                raise SchemaError(path, message)


def _parse_expect(value, path):
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return ("==", value)
    if isinstance(value, str):
        m = re.fullmatch(EXPECT_PATTERN, value)
        if m:
            return (m.group(1) or "==", int(m.group(2)))
    raise SchemaError(path, f"must be a count (1) or a comparison ('>=1'), not {value!r}")


def _build_target(target: dict, ctx: BuildContext, path: tuple):
    from postrender.selector import Selector, SelectorError, Target

    def one(d, p):
        try:
            return Selector.from_mapping({k: v for k, v in d.items() if v is not None and k != "exclude"})
        except SelectorError as exc:
            if exc.field in d:  # point at the field's own line: file:line:col: ...target.name: ...
                raise ctx.error(p + (exc.field,), exc.reason) from None
            raise ctx.error(p, str(exc)) from None

    include = one(target, path)
    exclude = [one(e, path + ("exclude", i)) for i, e in enumerate(target.get("exclude") or [])]
    return Target(include, exclude)
