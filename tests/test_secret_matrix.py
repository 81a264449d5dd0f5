"""The secret matrix (issue 15): every input channel x every output channel x every encoding, 0 leaks.

Input channels: ``--set-file``, ``--set``, ``--values``, ``POSTRENDER_VAR_``, config ``vars``,
KRM ``functionConfig`` (a PostRenderer) and a KRM ConfigMap functionConfig.

Secrets, each chosen to break one way of hiding it: both quote kinds and a tab (Python's repr
escapes them, JSON escapes ``"`` and the tab, YAML single quotes double ``'``, a one-line error
folds the tab to a space); a line break; two characters (short secrets were never redacted);
``0755`` (a YAML 1.1 number from a values file: it must reach the .dockerconfigjson as
``"0755"``, not 493, and be redacted as both).

Runs per channel and secret, together covering the output channels:

* ``ok``: the pull Secret is generated; stdout holds the secret only inside that Secret's
  data (checked by decoding it); stderr, ``--explain`` and ``--log-file`` hold nothing.
* ``warn``: a patch writes the secret into a ConfigMap (``--explain`` prints the new value)
  and into an image, which ``allowedRegistries`` warns about (the warning quotes the image).
* ``load error``: a template error quoting the secret raw, as base64, as base64 of
  ``user:secret``, as JSON (``tojson``), YAML-quoted (``quote``) - a Python list repr of them.
* ``run error``: a JSON6902 op on a path made of the secret, which does not exist: the error
  quotes the op as text, on one line (a tab or line break in the secret became a space).
* ``diff``: ``postrender diff`` of the patch that writes the secret into the ConfigMap.

KRM runs put the same rules in the functionConfig and read ``results`` and the items.

The leak detector is this file's own list of encodings (not the product's): each encoding of
the secret, and each piece of it between whitespace or escape sequences from 5 characters on,
so that half a secret shown is a leak too.
"""

from __future__ import annotations

import base64
import json
import re
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.conftest import CONFIG_HEADER, run_cli

DATA = Path(__file__).parent / "data"
INPUT = (DATA / "pull-secrets.yaml").read_text() + (
    "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: tools}\ndata: {a: b}\n")
REGISTRY = "registry.example.com"
USER = "bob"

SECRETS = {
    "quotes-and-tab": "Zq7'leak\"canary\tPW-91f3",
    "line-break": "Zq7-first-line-A1\nsecond-line-B2-canary",
    "short": "qZ",
    "number": "0755",
}
CHANNELS = ["--set-file", "--set", "--values", "POSTRENDER_VAR_", "config vars", "KRM functionConfig",
            "KRM ConfigMap"]
SCENARIOS = ["ok", "warn", "load error", "run error", "diff"]

BASE_RULES = """\
- imagePullSecrets: {names: ["{{ pullSecret }}"]}
- pullSecret: {name: "{{ pullSecret }}"}
"""
SCENARIO_RULES = {
    "ok": "",
    "warn": """\
- patch: {merge: {data: {pw: "{{ password }}"}}}
  target: {kind: ConfigMap, name: cm}
- patch:
    json6902: [{op: replace, path: /spec/template/spec/containers/0/image, value: "evil.example.com/x:{{ password }}"}]
  target: {kind: Deployment, name: sync}
- allowedRegistries: {registries: [registry.example.com], action: warn}
""",
    "load error": """\
- resources:
    inline: >-
      {{ [].index([password, password | string | b64encode, (username ~ ':' ~ password) | b64encode,
      password | tojson, password | string | quote, password ~ '']) }}
""",
    "run error": """\
- patch:
    json6902: [{op: remove, path: "/data/{{ password }}"}]
  target: {kind: ConfigMap, name: cm}
""",
    "diff": """\
- patch: {merge: {data: {pw: "{{ password }}"}}}
  target: {kind: ConfigMap, name: cm}
""",
}
EXPECTED_CODE = {"ok": 0, "warn": 0, "load error": 2, "run error": 3, "diff": 0}


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def encodings(secret: str) -> dict[str, str]:
    """The detector: every way the secret could be shown, by name."""
    forms = {
        "raw": secret,
        "one line": " ".join(secret.split()),
        "YAML single-quoted": secret.replace("'", "''"),
        "JSON": json.dumps(secret)[1:-1],
        "JSON, UTF-8": json.dumps(secret, ensure_ascii=False)[1:-1],
        "Python repr": repr(secret)[1:-1],
        "base64": b64(secret),
        "base64(user:secret)": b64(f"{USER}:{secret}"),
    }
    if secret == "0755":  # the number a YAML 1.1 reader makes of it
        forms["as a YAML number"] = str(int(secret, 8))
    pieces = {}
    for name, form in forms.items():
        for i, piece in enumerate(re.split(r"\s+|\\[tn]", form)):
            if len(piece) >= 5 and piece != form:
                pieces[f"{name}, piece {i}"] = piece
    return forms | pieces


def leaks(secret: str, text: str) -> list[str]:
    return [name for name, form in encodings(secret).items() if form and form in text]


def yaml_scalar(secret: str) -> str:
    """The secret as a YAML value: a number stays a plain number (that is the point of it)."""
    return secret if secret == "0755" else json.dumps(secret)


def bring_in(tmp_path: Path, channel: str, secret: str, yaml_value: str, file_ending: bytes = b"\r\n"):
    """How ``secret`` comes in through ``channel``: (lines for ``vars:``, argv, env).
    yaml_value is the secret as YAML text; a --set-file file ends with file_ending."""
    lines = ""
    argv: list[str] = []
    env = {"POSTRENDER_LOG": str(tmp_path / "env.log")}
    if channel in ("config vars", "KRM functionConfig"):
        lines = f"  password: {yaml_value}\n"
    elif channel == "--set":
        argv += ["--set", f"password={secret}"]
    elif channel == "--set-file":
        (tmp_path / "pw").write_bytes(secret.encode() + file_ending)
        argv += ["--set-file", f"password={tmp_path / 'pw'}"]
    elif channel == "--values":
        (tmp_path / "values.yaml").write_text(f"password: {yaml_value}\n")
        argv += ["-f", str(tmp_path / "values.yaml")]
    elif channel == "POSTRENDER_VAR_":
        env["POSTRENDER_VAR_password"] = secret
    return lines, argv, env


def setup(tmp_path: Path, channel: str, secret: str, scenario: str):
    """(argv, env, stdin) for one run."""
    # A --set-file file saved on Windows: the CRLF is not part of the password.
    lines, argv, env = bring_in(tmp_path, channel, secret, yaml_scalar(secret))
    variables = f"vars:\n  pullSecret: regcred\n  registry: {REGISTRY}\n  username: {USER}\n" + lines
    config_text = (CONFIG_HEADER + "metadata: {name: matrix}\n"
                   + variables + "rules:\n" + BASE_RULES + SCENARIO_RULES[scenario])
    config = tmp_path / "postrender.yaml"
    config.write_text(config_text)
    if channel.startswith("KRM"):
        if channel == "KRM ConfigMap":  # kpt's form: data keys are variables, data.config the file
            function_config = yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                              "data": {"config": str(config), "password": secret}})
        else:
            function_config = config_text
        items = yaml.safe_dump([d for d in yaml.safe_load_all(INPUT) if d])
        stdin = ("apiVersion: config.kubernetes.io/v1\nkind: ResourceList\nfunctionConfig:\n"
                 + textwrap.indent(function_config, "  ") + "items:\n" + textwrap.indent(items, "  "))
        return argv + ["--log-file", str(tmp_path / "file.log")], env, stdin.encode()
    command = ["diff", "--no-color"] if scenario == "diff" else ["run", "--explain"]
    return command + ["-c", str(config), *argv, "--log-file", str(tmp_path / "file.log")], env, INPUT.encode()


def without_secret_data(docs: list) -> list:
    """The documents with every Secret's data and stringData values blanked."""
    out = []
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "Secret":
            doc = dict(doc)
            for key in ("data", "stringData"):
                if isinstance(doc.get(key), dict):
                    doc[key] = {k: "" for k in doc[key]}
        out.append(doc)
    return out


def generated_password(docs: list) -> str:
    secrets = [d for d in docs if isinstance(d, dict) and d.get("kind") == "Secret"
               and d["metadata"] == {"name": "regcred", "namespace": "tools"}]
    assert secrets, "no pull Secret generated"
    config = json.loads(base64.b64decode(secrets[0]["data"][".dockerconfigjson"]))
    return config["auths"][REGISTRY]["password"]


@pytest.mark.parametrize("secret_name", list(SECRETS))
@pytest.mark.parametrize("channel", CHANNELS)
def test_no_channel_leaks_any_encoding(tmp_path, channel, secret_name):
    secret = SECRETS[secret_name]
    found: dict[str, list[str]] = {}
    for scenario in SCENARIOS:
        if scenario == "diff" and channel.startswith("KRM"):
            continue  # diff reads a stream, not a ResourceList
        work = tmp_path / scenario.replace(" ", "-")
        work.mkdir()
        argv, env, stdin = setup(work, channel, secret, scenario)
        r = run_cli(argv, stdin, env=env)
        assert "Traceback" not in r.err and "internal error" not in r.err, r.err
        seen = {"stderr": r.err}
        for log in ("env.log", "file.log"):
            if (work / log).exists():
                seen[log] = (work / log).read_text()
        if channel.startswith("KRM"):
            listing = yaml.safe_load(r.out)
            results = listing.get("results") or []
            seen["KRM results"] = json.dumps(results) + "\n" + yaml.safe_dump(results)
            assert r.code == EXPECTED_CODE[scenario], (scenario, r.err)
            if scenario != "ok" and scenario != "warn":
                assert any(x["severity"] == "error" and "<redacted>" in x["message"] for x in results), results
            docs = listing["items"]
        elif scenario == "diff":
            assert r.code == 1, r.err  # differences (postrender diff exits like kubectl diff)
            seen["diff"] = r.text
            assert "+  .dockerconfigjson: <redacted, changed>" in r.text and "pw: <redacted>" in r.text.replace(
                "'<redacted>'", "<redacted>").replace('"<redacted>"', "<redacted>"), r.text
            docs = []
        else:
            assert r.code == EXPECTED_CODE[scenario], (scenario, r.err)
            docs = list(yaml.safe_load_all(r.out)) if r.code == 0 else []
            if r.code:
                assert r.out == b"" and "<redacted>" in r.err, r.err
        if scenario == "ok":
            # The secret went in, unchanged (CRLF stripped, 0755 not 493), and is only there.
            assert generated_password(docs) == secret
            seen["manifests but the Secret's data"] = yaml.safe_dump_all(without_secret_data(docs))
            if not channel.startswith("KRM"):
                assert "explain: rules[1] (pullSecret): Secret/tools/regcred: (new document)" in r.err
        if scenario == "warn":
            warnings = seen.get("KRM results", r.err)
            assert "allowed registr" in warnings and "x:<redacted>" in warnings, warnings
            if not channel.startswith("KRM"):
                assert "explain: rules[2] (patch): ConfigMap/tools/cm: data.pw: (unset) -> <redacted>" in r.err, r.err
        for output, text in seen.items():
            if leaks(secret, text):
                found[f"{scenario} / {output}"] = leaks(secret, text)
    assert found == {}, f"{channel} / {secret_name} leaks: {found}"


def test_the_detector_sees_every_encoding():
    """The detector itself: each encoding of each secret, put in a text, is reported."""
    for secret in SECRETS.values():
        for name, form in encodings(secret).items():
            assert leaks(secret, f"x {form} y"), (secret, name)
    assert leaks("Zq7-first-line-A1\nsecond-line-B2-canary", "shown: second-line-B2-canary") != []


@pytest.mark.parametrize("channel", ["--set", "--values"])
def test_the_matrix_would_see_a_leak(tmp_path, channel):
    """Redaction switched off (no secret registered: the value under a name that is not a
    credential's), the same run shows the value: the matrix is not passing vacuously."""
    secret = SECRETS["quotes-and-tab"]
    config = tmp_path / "postrender.yaml"
    config.write_text(CONFIG_HEADER + "rules:\n"
                      "- resources: {inline: \"{{ [].index(colour) }}\"}\n")
    if channel == "--values":
        (tmp_path / "v.yaml").write_text(f"colour: {json.dumps(secret)}\n")
        argv = ["-f", str(tmp_path / "v.yaml")]
    else:
        argv = ["--set", f"colour={secret}"]
    r = run_cli(["run", "-c", str(config), *argv], INPUT.encode())
    assert r.code == 2 and "Python repr" in leaks(secret, r.err)


@pytest.mark.parametrize("scenario", ["load error", "run error"])
def test_debug_traceback_is_redacted_too(tmp_path, scenario):
    """POSTRENDER_DEBUG=1 shows a traceback: the exception texts in it are redacted as well."""
    secret = SECRETS["quotes-and-tab"]
    argv, env, stdin = setup(tmp_path, "--set-file", secret, scenario)
    r = run_cli(argv, stdin, env=env | {"POSTRENDER_DEBUG": "1"})
    assert r.code == EXPECTED_CODE[scenario] and "Traceback (most recent call last)" in r.err
    assert "<redacted>" in r.err and leaks(secret, r.err) == [], r.err
