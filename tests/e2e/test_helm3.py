"""Helm 3.17.3 `--post-renderer PATH|NAME [--post-renderer-args ARG]...` with the real binary.

What Helm 3 does (measured, see docs/integrations-notes.md): it execs the post-renderer (a bare
name through $PATH) with each --post-renderer-args as one argv element, feeds it the non-hook
templates only (hooks, tests and NOTES are added after post-rendering), keeps comment-only
documents and `kind: List` as rendered, and shows the post-renderer's stderr when it fails.
"""

from __future__ import annotations

import pytest

from e2e_helpers import BAD_CONFIG, DEMO_CHART, by_kind_name, documents, pull_policies, run, write_config


@pytest.fixture
def helm3(need_tool):
    return need_tool("helm3")


def test_post_renderer_args_reach_postrender_and_only_non_hooks_are_post_rendered(helm3, tool_env, tmp_path):
    cfg = write_config(tmp_path / "cfg.yaml")
    proc = run([helm3, "template", "r1", DEMO_CHART, "--post-renderer", "postrender",
                "--post-renderer-args=-c", f"--post-renderer-args={cfg}"], tool_env, check=True)
    objs = by_kind_name(documents(proc.stdout))
    assert pull_policies(objs["Deployment", "r1-demo"]) == ["IfNotPresent"]
    assert pull_policies(objs["CronJob", "r1-demo-cleanup"]) == ["IfNotPresent"]
    # Helm 3 sends a List as one document (Helm 4 splits it): its Pod item is edited in place.
    (pod,) = [i for i in objs["List", None]["items"] if i["kind"] == "Pod"]
    assert pull_policies(pod) == ["IfNotPresent"]
    # Hooks never reach a Helm 3 post-renderer: unchanged.
    assert pull_policies(objs["Job", "r1-demo-migrate"]) == [None]
    assert pull_policies(objs["Pod", "r1-demo-test"]) == [None]
    # The comment-only template survives as a document of its own.
    assert "# Source: demo/templates/extra.yaml\n# Optional extra ConfigMap" in proc.stdout


def test_list_document_is_passed_whole(helm3, tool_env, tmp_path):
    cfg = write_config(tmp_path / "cfg.yaml")
    proc = run([helm3, "template", "r1", DEMO_CHART, "--show-only", "templates/list.yaml",
                "--post-renderer", "postrender", "--post-renderer-args=-c", f"--post-renderer-args={cfg}"],
               tool_env, check=True)
    (lst,) = documents(proc.stdout)
    assert lst["kind"] == "List"
    pod = next(i for i in lst["items"] if i["kind"] == "Pod")
    assert pull_policies(pod) == ["IfNotPresent"]


def test_config_found_through_postrender_config_env(helm3, tool_env, tmp_path):
    cfg = write_config(tmp_path / "cfg.yaml", policy="Never")
    env = dict(tool_env, POSTRENDER_CONFIG=str(cfg))
    proc = run([helm3, "template", "r1", DEMO_CHART, "--post-renderer", "postrender"], env, check=True)
    assert pull_policies(by_kind_name(documents(proc.stdout))["Deployment", "r1-demo"]) == ["Never"]


def test_absolute_path_post_renderer(helm3, tool_env, tmp_path, postrender_bin):
    cfg = write_config(tmp_path / "cfg.yaml", policy="Always")
    proc = run([helm3, "template", "r1", DEMO_CHART, "--post-renderer", postrender_bin / "postrender",
                "--post-renderer-args", "-c", "--post-renderer-args", cfg], tool_env, check=True)
    assert pull_policies(by_kind_name(documents(proc.stdout))["Deployment", "r1-demo"]) == ["Always"]


def test_failing_config_fails_helm_with_postrenders_message(helm3, tool_env, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(BAD_CONFIG)
    proc = run([helm3, "template", "r1", DEMO_CHART, "--post-renderer", "postrender",
                "--post-renderer-args=-c", f"--post-renderer-args={cfg}"], tool_env)
    assert proc.returncode != 0
    assert proc.stdout == ""
    # Helm 3 quotes the post-renderer's stderr in its own error.
    assert "error while running command" in proc.stderr
    assert "postrender: error:" in proc.stderr
    assert "Sometimes" in proc.stderr


def test_output_dir_sends_empty_stdin_and_writes_unrendered_files(helm3, tool_env, tmp_path):
    """With --output-dir Helm 3 writes the templates itself and gives the post-renderer an empty
    stream: postrender must answer empty with exit 0 (else Helm fails). The files are *not*
    post-rendered; document that instead of pretending otherwise."""
    cfg = write_config(tmp_path / "cfg.yaml", policy="Always")
    out = tmp_path / "out"
    run([helm3, "template", "r1", DEMO_CHART, "--output-dir", out, "--post-renderer", "postrender",
         "--post-renderer-args=-c", f"--post-renderer-args={cfg}"], tool_env, check=True)
    deployment = documents((out / "demo" / "templates" / "deployment.yaml").read_text())[0]
    assert pull_policies(deployment) == [None]

    direct = run(["postrender", "-c", cfg], tool_env, input="")
    assert (direct.returncode, direct.stdout, direct.stderr) == (0, "", "")


def test_crds_reach_the_post_renderer_only_with_include_crds_on_template(helm3, tool_env, tmp_path):
    """`helm template --include-crds` puts crds/ into the post-renderer's input (Helm 3 only);
    on install/upgrade CRDs from crds/ are created separately and never post-rendered.
    Either way a CRD must come out byte-identical: its schema mentions containers/image."""
    cfg = write_config(tmp_path / "cfg.yaml", policy="Always")
    plain = run([helm3, "template", "r1", DEMO_CHART, "--include-crds"], tool_env, check=True)
    rendered = run([helm3, "template", "r1", DEMO_CHART, "--include-crds", "--post-renderer", "postrender",
                    "--post-renderer-args=-c", f"--post-renderer-args={cfg}"], tool_env, check=True)

    def crd_text(stream: str) -> str:
        (doc,) = [d for d in stream.split("\n---\n") if "kind: CustomResourceDefinition" in d]
        return doc

    assert crd_text(rendered.stdout) == crd_text(plain.stdout)


def test_chart_made_by_helm_create(helm3, tool_env, tmp_path):
    run([helm3, "create", "mychart"], tool_env, cwd=tmp_path, check=True)
    cfg = write_config(tmp_path / "cfg.yaml", policy="Always")  # helm create's default is IfNotPresent
    before = run([helm3, "template", "r1", "./mychart"], tool_env, cwd=tmp_path, check=True)
    after = run([helm3, "template", "r1", "./mychart", "--post-renderer", "postrender",
                 "--post-renderer-args=-c", f"--post-renderer-args={cfg}"], tool_env, cwd=tmp_path, check=True)
    assert pull_policies(by_kind_name(documents(before.stdout))["Deployment", "r1-mychart"]) == ["IfNotPresent"]
    assert pull_policies(by_kind_name(documents(after.stdout))["Deployment", "r1-mychart"]) == ["Always"]
    # Only the policy line changed: the rest of the text is Helm's, untouched.
    changed = [(a, b) for a, b in zip(before.stdout.splitlines(), after.stdout.splitlines()) if a != b]
    assert changed == [("          imagePullPolicy: IfNotPresent", "          imagePullPolicy: Always")]


def test_release_namespace_must_be_given_to_the_post_renderer(helm3, tool_env, tmp_path):
    """Helm 3.17.3 does not tell a post-renderer its `-n` either (issue 13): two pull Secrets
    unless postrender gets `-n` through --post-renderer-args or $HELM_NAMESPACE selects it."""
    from e2e_helpers import REPO

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("apiVersion: postrender/v1alpha1\nkind: PostRenderer\nrules:\n"
                   "  - imagePullSecrets: {names: [regcred]}\n  - pullSecret: {name: regcred}\n")
    env = dict(tool_env, POSTRENDER_VAR_registry="mirror.example.com", POSTRENDER_VAR_username="u",
               POSTRENDER_VAR_password="helm3-pw-123")
    base = [helm3, "template", "r1", REPO / "tests" / "charts" / "operators", "--post-renderer", "postrender",
            "--post-renderer-args=-c", f"--post-renderer-args={cfg}"]

    def secrets(extra, environment):
        proc = run([*base, *extra], environment, check=True)
        return sorted((o["metadata"].get("namespace") or "") for o in documents(proc.stdout) if o["kind"] == "Secret")

    assert secrets(["-n", "prtest"], env) == ["", "prtest"]
    assert secrets(["-n", "prtest", "--post-renderer-args=--namespace=prtest"], env) == ["prtest"]
    assert secrets([], dict(env, HELM_NAMESPACE="prtest")) == ["prtest"]
