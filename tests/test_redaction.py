"""The redactor (engine/redaction.py): every encoding a secret can take is found, in one pass.

Each case writes the secret the way some real code would (json, repr, libyaml at a narrow width
so it folds, base64 inside a bigger blob, an error message folding whitespace) and checks that
no piece of the secret is left; tests/test_secret_matrix.py does the same end to end.
"""

from __future__ import annotations

import base64
import json
import re
import time
from urllib.parse import quote

import pytest
import yaml

from postrender.engine.redaction import REDACTED, REDACTED_CHANGED, Redactor
from postrender.errors import ConfigError
from tests.conftest import CONFIG_HEADER

SECRETS = {
    "quotes-and-tab": "Zq7'leak\"canary\tPW-91f3",
    "line-breaks": "Zq7-first-line-A1\nsecond-line-B2\r\nthird-line-C3-canary",
    "spaces": "correct horse battery staple canary words",
    "backslash": "Zq7\\leak\\\\canary-PW",
    "non-ASCII": "Zq7-läk-\u2028-canary\x85-PW\x1b",
    "short": "qZ",
    "one character": "Q",
}
USER = "bob"


def _yaml(value, style, width=20):
    return yaml.dump({"k": value}, default_style=style, width=width, allow_unicode=True, Dumper=yaml.SafeDumper)


def _b64(data: str) -> str:
    return base64.b64encode(data.encode()).decode()


ENCODERS = {
    "raw": lambda s: s,
    "json": lambda s: json.dumps({"password": s}),
    "json, UTF-8": lambda s: json.dumps(s, ensure_ascii=False),
    "json in json": lambda s: json.dumps(json.dumps({"auths": {"r": {"password": s}}})),
    "tojson (HTML-safe)": lambda s: json.dumps(s).replace("'", "\\u0027").replace("<", "\\u003c"),
    "repr": lambda s: repr(s),
    "repr in a list": lambda s: repr([s, "x"]),
    "ascii": lambda s: ascii(s),
    "repr of bytes": lambda s: repr(s.encode()),
    "yaml plain, folded": lambda s: _yaml(s, None),
    "yaml single-quoted, folded": lambda s: _yaml(s, "'"),
    "yaml double-quoted, folded": lambda s: _yaml(s, '"'),
    "yaml literal block": lambda s: _yaml(s, "|"),
    "yaml folded block": lambda s: _yaml(s, ">"),
    "yaml double-quoted, ASCII": lambda s: yaml.dump(s, default_style='"', allow_unicode=False, width=1000),
    "percent-encoded": lambda s: "https://r.example/?p=" + quote(s, safe=""),
    "one-line error": lambda s: ConfigError(f"value {s} is wrong").message,
    "base64": lambda s: _b64(s),
    "base64 of user:secret": lambda s: _b64(f"{USER}:{s}"),
    "base64 of a .dockerconfigjson": lambda s: _b64(json.dumps(
        {"auths": {"r.example": {"username": USER, "password": s, "auth": _b64(f"{USER}:{s}")}}})),
}


def pieces(secret: str) -> list[str]:
    """What must not survive: the secret's lines and words (from 5 characters on), else all of it."""
    words = [w for w in re.split(r"\s+", secret) if len(w) >= 5]
    return words or [secret]


@pytest.mark.parametrize("encoder", list(ENCODERS))
@pytest.mark.parametrize("secret_name", list(SECRETS))
def test_every_encoding_is_redacted(secret_name, encoder):
    secret = SECRETS[secret_name]
    redact = Redactor([secret], users=[USER])
    try:
        shown = ENCODERS[encoder](secret)
    except yaml.YAMLError:
        pytest.fail("libyaml refused the value")
    text = f"before {shown} after"
    out = redact(text)
    assert REDACTED in out, (encoder, text, out)
    decoded_forms = [shown]
    if encoder.startswith("yaml"):
        decoded_forms = []  # folded text: the pieces are what matters
    for piece in pieces(secret) + decoded_forms:
        if len(piece) >= 2 or secret_name == "one character":
            assert piece not in out.replace(REDACTED, ""), (encoder, piece, out)
    if encoder.startswith("base64"):
        assert shown not in out


def test_the_base64_of_a_short_secret_inside_a_blob_is_not_guessed():
    """Fragments shorter than 8 characters would match unrelated base64: a short secret is
    matched whole, as base64 of itself and of user:secret, not inside arbitrary blobs."""
    redact = Redactor(["qZ"], users=[USER])
    unrelated = base64.b64encode(bytes(range(256))).decode()
    assert redact(unrelated) == unrelated
    assert redact(_b64("bob:qZ")) == REDACTED


def test_redacting_twice_changes_nothing_and_keeps_markers():
    for secret in ("e", "red", "acted", "<", ">", ", changed"):
        redact = Redactor([secret])
        once = redact(f"x {secret} {REDACTED} {REDACTED_CHANGED} y")
        assert redact(once) == once
        assert once.count(REDACTED) >= 2 and REDACTED_CHANGED in once


def test_whitespace_only_secret_does_not_eat_the_message():
    redact = Redactor(["   ", "\t"])
    assert redact("a b\tc") == "a b\tc"
    assert redact(json.dumps("x\ty")) == '"x<redacted>y"'


def test_longest_form_wins():
    redact = Redactor(["abc", "abcdef"])
    assert redact("[abcdef]") == f"[{REDACTED}]"


def test_no_secret_costs_nothing_and_a_big_text_stays_fast():
    redact = Redactor([SECRETS["quotes-and-tab"], SECRETS["spaces"]], users=[USER])
    text = ("kind: ConfigMap\ndata:\n  key: value with some words\n" * 50_000)
    started = time.perf_counter()
    assert redact(text) is text  # no form present: the text object itself comes back
    assert time.perf_counter() - started < 1.0
    planted = text + SECRETS["spaces"] + "\n"
    started = time.perf_counter()
    assert redact(planted).endswith(REDACTED + "\n")
    assert time.perf_counter() - started < 10.0


# ---- which values are secret, and the text credential code gets --------------------------------

def _fresh_registry(monkeypatch):
    from postrender.engine import redaction

    monkeypatch.setattr(redaction, "_known_secrets", [])
    monkeypatch.setattr(redaction, "_known_users", [])
    monkeypatch.setattr(redaction, "_known_redactor", None)
    return redaction


@pytest.mark.parametrize("written, as_secret", [
    ("0755", ["0755", "493"]),        # YAML 1.1 octal: secret as written and as a template prints it
    ("1_000", ["1_000", "1000"]),
    ("12345", ["12345"]),
    ("0x1F", ["0x1F", "31"]),
    ("3.50", ["3.50", "3.5"]),
    ('"0755"', ["0755"]),             # quoted: a string already
    ("true", []),                     # booleans are not secrets ("true" everywhere would be)
])
def test_numbers_under_credential_names_are_secret_as_written(tmp_path, monkeypatch, written, as_secret):
    from postrender.config.loader import load_config

    redaction = _fresh_registry(monkeypatch)
    (tmp_path / "values.yaml").write_text(f"registryAuth:\n  password: {written}\n")
    config = tmp_path / "postrender.yaml"
    config.write_text(CONFIG_HEADER + "rules: []\n")
    cfg = load_config(config, values_files=[tmp_path / "values.yaml"])
    assert sorted(redaction._known_secrets) == sorted(as_secret)
    assert cfg.variables["registryAuth"]["password"] is not None




@pytest.mark.parametrize("written, text", [
    ("0755", "0755"), ("00012", "00012"), ("1_000", "1_000"), ("0x1F", "0x1F"), ("1.50", "1.50"),
    ("yes", "yes"), ("'0755'", "0755"), ("493", "493"),
])
@pytest.mark.parametrize("where", ["values file", "config vars"])
def test_credentials_are_the_text_that_was_written(tmp_path, written, text, where):
    """The .dockerconfigjson gets "0755", never 493 (a JSON number) or "493" (issue 15)."""
    from postrender.config.loader import load_config
    from postrender.pipeline import run_stream

    values = f"reg:\n  server: r.example.com\n  user: {written}\n  pw: {written}\n"
    config = tmp_path / "postrender.yaml"
    rules = ("rules:\n- pullSecret:\n    name: regcred\n"
             "    credentials: {registry: reg.server, username: reg.user, password: reg.pw}\n")
    if where == "values file":
        (tmp_path / "values.yaml").write_text(values)
        config.write_text(CONFIG_HEADER + rules)
        cfg = load_config(config, values_files=[tmp_path / "values.yaml"])
    else:
        config.write_text(CONFIG_HEADER + "vars:\n" + "".join("  " + line + "\n" for line in values.splitlines()) + rules)
        cfg = load_config(config)
    stream = b"apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: n}\nspec:\n  imagePullSecrets: [{name: regcred}]\n"
    result = run_stream(cfg, stream)
    secret = [d for d in yaml.safe_load_all(result.output) if d["kind"] == "Secret"][0]
    docker = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    entry = docker["auths"]["r.example.com"]
    assert entry == {"username": text, "password": text, "auth": _b64(f"{text}:{text}")}


@pytest.mark.parametrize("content, value", [
    (b"s3cret\n", "s3cret"), (b"s3cret\r\n", "s3cret"), (b"s3cret", "s3cret"),
    (b"s3cret\n\n", "s3cret\n"), (b"s3cret\r\n\r\n", "s3cret\r\n"), (b"line1\nline2\n", "line1\nline2"),
    (b"s3cret\r", "s3cret\r"),  # a lone CR is not a line break on Linux: kept
])
def test_set_file_strips_one_trailing_line_break(tmp_path, content, value):
    from postrender.config.loader import collect_variables

    (tmp_path / "pw").write_bytes(content)
    variables, sensitive = collect_variables({}, set_files=[f"password={tmp_path / 'pw'}"])
    assert variables["password"] == value and sensitive == [value]


def test_short_secrets_are_secret_at_any_length(monkeypatch):
    from postrender.config.loader import collect_variables

    redaction = _fresh_registry(monkeypatch)
    _variables, sensitive = collect_variables({"password": "x", "token": "ab", "apiKey": "", "username": "bob"})
    assert sorted(sensitive) == ["ab", "x"]
    assert redaction.redact_known("pw 'x' and ab, base64 " + _b64("bob:ab")) == \
        "pw '<redacted>' and <redacted>, base64 <redacted>"


def test_a_set_without_equals_is_not_quoted_back():
    """``--set S3cr3t`` (the key forgotten): the argument may be the secret itself."""
    from postrender.config.loader import collect_variables

    with pytest.raises(ConfigError) as caught:
        collect_variables({}, sets=["S3cr3t-value"])
    assert "S3cr3t" not in caught.value.message and "key=value" in caught.value.message


def test_a_secret_that_is_not_utf8_is_still_matched():
    """Invalid UTF-8 kept as lone surrogates (from the environment) breaks no encoder."""
    secret = "ab\udcffcd-secret"
    redact = Redactor([secret], users=[USER])
    text = f"x {secret} {base64.b64encode(b'ab' + bytes([0xff]) + b'cd-secret').decode()} {repr(secret)}"
    assert redact(text) == f"x {REDACTED} {REDACTED} '{REDACTED}'"


@pytest.mark.parametrize("name", ["note", "caBundle", "motd"])
def test_set_file_values_are_secret_whatever_the_variable_is_called(tmp_path, name):
    """--set-file is how secrets come in: its value is secret even under a name that does not
    look like a credential (``note``), while the same value given with --set is not."""
    from postrender.config.loader import collect_variables

    (tmp_path / "f").write_bytes(b"plain-looking-value-42\n")
    _variables, sensitive = collect_variables({}, set_files=[f"{name}={tmp_path / 'f'}"])
    assert sensitive == ["plain-looking-value-42"]
    _variables, sensitive = collect_variables({}, sets=[f"{name}=plain-looking-value-42"])
    assert sensitive == []


def test_a_set_file_value_under_a_plain_name_is_redacted_from_explain_and_errors(tmp_path):
    """End to end: the value of ``--set-file note=F`` written by a patch is hidden in --explain;
    the same run with --set shows it (so the redaction comes from --set-file, not from the name)."""
    from tests.conftest import run_cli, write_config

    (tmp_path / "note").write_text("plain-looking-value-42\n")
    config = write_config(tmp_path, 'rules:\n- patch: {merge: {metadata: {annotations: {note: "{{ note }}"}}}}\n')
    stream = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
    hidden = run_cli(["run", "--explain", "-c", str(config), "--set-file", f"note={tmp_path / 'note'}"], stream)
    assert hidden.code == 0, hidden.err
    assert "plain-looking-value-42" not in hidden.err and "<redacted>" in hidden.err
    shown = run_cli(["run", "--explain", "-c", str(config), "--set", "note=plain-looking-value-42"], stream)
    assert shown.code == 0 and "plain-looking-value-42" in shown.err
