"""Secret values kept out of every message: the process-wide registry and what it matches.

A value is secret by its variable's name, by arriving through ``--set-file`` or by being a
``pullSecret`` credential (config/loader.py and the rule register it the moment they know).
Every message (stderr, ``--log-file``, ``--explain``, KRM ``results``, error text) and the
text ``diff`` prints pass through :func:`redact_known`.

A secret reaches a message in whatever form the code that quoted it chose, so each secret is
matched in every form it can take on the way out (:func:`secret_forms`):

* as it is, and the way a message line shows it (``PostrenderError`` folds every run of
  whitespace into one space; an emitter may fold a long line): each run of whitespace inside a
  form matches any run of whitespace, line breaks and ``\\`` continuations;
* escaped: JSON (ASCII and not, and the HTML-safe form Jinja's ``tojson`` and Go's
  ``json.Marshal`` write), JSON inside JSON (a ``.dockerconfigjson`` quoted in a message), YAML
  double-quoted (libyaml's escapes: ``\\e``, ``\\N``, ``\\_``...), YAML single-quoted (``''``),
  Python ``repr``/``ascii`` (``%r`` of an exception argument, with either quote), ``repr`` of
  its UTF-8 bytes, and percent-encoded (a URL);
* base64 of it, of ``user:secret`` for every user name the config holds, and *inside any
  base64 blob*: the characters of ``base64(prefix + secret)`` that depend only on the secret's
  bytes, at each of the three byte alignments, so ``base64`` of a whole ``.dockerconfigjson``
  is caught without knowing how it was built.  Those fragments are kept only from 8 characters
  on: shorter ones would match unrelated text.

Any length: a one-character secret is redacted too (messages that contain that character get
harder to read, which is the price of a one-character password).  A secret made only of
whitespace cannot be told apart from spacing, so only its escaped forms are matched.

Redaction is one pass over the text and leaves ``<redacted>`` markers alone, so redacting twice
changes nothing (a message is redacted when it is raised and again when it is printed).
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"
REDACTED_CHANGED = "<redacted, changed>"
# base64 fragments shorter than this (two 4-character groups, 6 bytes of secret) would match
# unrelated base64 text; a secret that short is still matched whole and as base64 of itself.
MIN_FRAGMENT_CHARS = 8
# What a run of whitespace inside a secret may have become in a message or a folded line.
_GAP = r"[\s\\]+"
_EDGE = r"[\s\\]*"
_MARKERS = re.escape(REDACTED) + "|" + re.escape(REDACTED_CHANGED)


def _json(value: str, ascii_only: bool) -> str:
    import json

    return json.dumps(value, ensure_ascii=ascii_only)[1:-1]


def _html_safe_json(value: str) -> str:
    # Jinja's tojson and Go's encoding/json escape <, >, & (and Jinja also ') as \u00XX.
    return (_json(value, True).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("'", "\\u0027"))


def _yaml_double_quoted(value: str, unicode: bool) -> str:
    import yaml

    text = yaml.dump(value, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), default_style='"',
                     allow_unicode=unicode, width=1 << 30, explicit_end=False)
    return text.strip().removesuffix("...").strip()[1:-1]


def _utf8(value: str) -> set[bytes]:
    """The UTF-8 bytes of value.  A value read from the environment may hold invalid UTF-8,
    which Python keeps as lone surrogates: both ways of writing them back."""
    return {value.encode("utf-8", "surrogateescape"), value.encode("utf-8", "surrogatepass")}


def _repr_forms(value: str) -> set[str]:
    forms = {repr(value)[1:-1], ascii(value)[1:-1]} | {repr(raw)[2:-1] for raw in _utf8(value)}
    # repr chooses its quote by the content; inside another repr (a list, an exception's
    # args) the same string may be quoted with the other one.
    forms.add(value.replace("\\", "\\\\").replace("'", "\\'"))
    forms.add(value.replace("\\", "\\\\").replace('"', '\\"'))
    return forms


def _escaped_forms(value: str) -> set[str]:
    """One level of every escaping a message, manifest or log line may apply."""
    from urllib.parse import quote

    forms = {_json(value, True), _json(value, False), _html_safe_json(value),
             value.replace("'", "''"), quote(value, safe="", errors="surrogateescape"),
             quote(value, errors="surrogateescape")}
    forms |= _repr_forms(value)
    try:
        forms.add(_yaml_double_quoted(value, True))
        forms.add(_yaml_double_quoted(value, False))
    except Exception:  # noqa: BLE001 - a value libyaml cannot emit has no such form
        pass
    return forms


def base64_forms(raw: bytes) -> set[str]:
    """base64 of raw, plus what it looks like inside any longer base64 text (three alignments)."""
    import base64

    forms = {base64.b64encode(raw).decode("ascii"), base64.urlsafe_b64encode(raw).decode("ascii"),
             base64.b64encode(raw).decode("ascii").rstrip("=")}
    for skew in (0, 1, 2):
        encoded = base64.b64encode(b"\0" * skew + raw).decode("ascii")
        first = 0 if skew == 0 else 3  # first 3-byte group made of the value's bytes only
        last = (skew + len(raw)) // 3 * 3  # end of the last complete group
        fragment = encoded[first // 3 * 4:last // 3 * 4]
        if len(fragment) >= MIN_FRAGMENT_CHARS:
            forms.add(fragment)
            forms.add(fragment.replace("+", "-").replace("/", "_"))
    return forms


def secret_forms(value: str, users: tuple[str, ...] = ()) -> set[str]:
    """The texts a secret can appear as in a message or a manifest (see the module docstring)."""
    once = {value} | _escaped_forms(value)
    forms = set(once)
    for form in once:  # escaped twice: JSON in JSON, a repr of a JSON text, ...
        forms |= _escaped_forms(form)
    for form in {value, _json(value, True), _json(value, False)}:
        for raw in _utf8(form):
            forms |= base64_forms(raw)
    for user in users:
        for raw in _utf8(f"{user}:{value}"):
            forms |= base64_forms(raw)
    return {f for f in forms if f.strip()}


# A backslash escape inside a quoted form; libyaml may fold a double-quoted line right after one
# (an escaped line break, read as nothing).
_ESCAPE = re.compile(r"\\(?:x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|U[0-9A-Fa-f]{8}|.)", re.S)
_FOLD = r"(?:\\\r?\n[ \t]*)?"


def _pattern(form: str) -> str:
    """Regex text for a form: whitespace inside it matches any whitespace, and a line may be
    folded after each escape sequence (see the module docstring)."""
    parts = re.split(r"(\s+)", form)
    out = []
    for i, part in enumerate(parts):
        if not part:
            continue
        if part.isspace():
            out.append(_EDGE if i in (0, len(parts) - 1) else _GAP)
            continue
        pos = 0
        for escape in _ESCAPE.finditer(part):
            out.append(re.escape(part[pos:escape.end()]) + _FOLD)
            pos = escape.end()
        out.append(re.escape(part[pos:]))
    return "".join(out)


class Redactor:
    """Replace every form of the given secrets by ``<redacted>``, in one pass."""

    def __init__(self, secrets, users=()):
        forms: set[str] = set()
        users = tuple(u for u in dict.fromkeys(users) if isinstance(u, str) and u)
        for secret in dict.fromkeys(secrets):
            if isinstance(secret, str) and secret:
                forms |= secret_forms(secret, users)
        self.forms = forms
        # A cheap test before the regex: the longest piece of each form without whitespace.
        self._anchors = sorted({max(re.split(r"\s+", f.strip()), key=len) for f in forms}, key=len)
        # Longest first: a form may contain another, and the regex takes the first alternative
        # that matches.  The markers come first so an already redacted text stays as it is.
        alternatives = [_MARKERS] + [_pattern(f) for f in sorted(forms, key=len, reverse=True)]
        self._regex = re.compile("|".join(alternatives)) if forms else None

    def __call__(self, text: str) -> str:
        if self._regex is None or not isinstance(text, str):
            return text
        if not any(anchor in text for anchor in self._anchors):
            return text
        return self._regex.sub(_replace, text)


def _replace(match: re.Match) -> str:
    found = match.group(0)
    return found if found in (REDACTED, REDACTED_CHANGED) else REDACTED


def make_redactor(secrets, users=()) -> Redactor:
    return Redactor(secrets, users)


# ---- the process-wide registry ---------------------------------------------------------------

# Every value known to be secret in this process, registered the moment it is known (when the
# variables are collected, when a rule marks a credential): errors raised before the config has
# finished loading, and KRM results built from a functionConfig, are redacted with it too.
_known_secrets: list[str] = []
_known_users: list[str] = []
_known_redactor: Redactor | None = None


def secret_text(value) -> str | None:
    """The text of a secret value: strings as they are, numbers as text (a numeric password
    from a YAML file is still a password); None for what cannot be one (booleans, null,
    collections)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return str(value)
    return None


def register_secrets(values) -> None:
    """Mark values as secret from now on (strings, and numbers as their text)."""
    global _known_redactor
    for value in values:
        text = secret_text(value)
        if text and text not in _known_secrets:
            _known_secrets.append(text)
            _known_redactor = None


def register_users(names) -> None:
    """User names the config holds: ``base64(user:secret)`` is matched for each of them."""
    global _known_redactor
    for name in names:
        if isinstance(name, str) and name and name not in _known_users:
            _known_users.append(name)
            if _known_secrets:
                _known_redactor = None


def redact_known(text: str) -> str:
    global _known_redactor
    if not _known_secrets:
        return text
    if _known_redactor is None:
        _known_redactor = Redactor(_known_secrets, _known_users)
    return _known_redactor(text)
