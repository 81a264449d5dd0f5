"""examples/argocd-cmp/plugin.yaml: run its discover/init/generate commands exactly as written.

Argo CD's CMP server runs each command with the app's source directory as working directory
and ARGOCD_APP_* / ARGOCD_ENV_* in the environment; that is reproduced here with the real Helm
(3.17.3, the line Argo CD ships) as `helm` on PATH and this checkout's postrender.
"""

from __future__ import annotations

import os
import shutil

import pytest
import yaml

from e2e_helpers import BAD_CONFIG, DEMO_CHART, REPO, by_kind_name, documents, pull_policies, run, write_config

PLUGIN = REPO / "examples" / "argocd-cmp" / "plugin.yaml"


@pytest.fixture
def cmp_env(need_tool, tool_env, tmp_path):
    bin_dir = tmp_path / "helm-bin"
    bin_dir.mkdir()
    (bin_dir / "helm").symlink_to(need_tool("helm3"))
    return dict(tool_env, PATH=f"{bin_dir}{os.pathsep}{tool_env['PATH']}",
                ARGOCD_APP_NAME="web", ARGOCD_APP_NAMESPACE="shop")


@pytest.fixture
def spec():
    plugin = yaml.safe_load(PLUGIN.read_text())
    assert (plugin["apiVersion"], plugin["kind"]) == ("argoproj.io/v1alpha1", "ConfigManagementPlugin")
    return plugin["spec"]


@pytest.fixture
def app(tmp_path):
    src = tmp_path / "repo" / "charts" / "demo"
    shutil.copytree(DEMO_CHART, src)
    write_config(src / "postrender.yaml", policy="Always")
    return src


def test_discover_finds_a_chart_with_a_postrender_config(spec, app, cmp_env, tmp_path):
    found = run(spec["discover"]["find"]["command"], cmp_env, cwd=app)
    assert (found.returncode, found.stdout.strip()) == (0, "found")
    (app / "postrender.yaml").unlink()
    assert run(spec["discover"]["find"]["command"], cmp_env, cwd=app).stdout.strip() == ""


def test_generate_renders_and_post_renders(spec, app, cmp_env):
    run(spec["init"]["command"], cmp_env, cwd=app, check=True)
    proc = run(spec["generate"]["command"], cmp_env, cwd=app)
    assert proc.returncode == 0, proc.stderr
    docs = documents(proc.stdout)
    objs = by_kind_name(docs)
    deployment = objs["Deployment", "web-demo"]
    assert pull_policies(deployment) == ["Always"]
    assert deployment["metadata"].get("namespace") in (None, "shop")
    # helm template output: hooks included (Argo CD maps them to sync hooks), CRDs too.
    assert ("Job", "web-demo-migrate") in objs
    assert ("CustomResourceDefinition", "widgets.demo.example.com") in objs


def test_generate_takes_config_and_values_from_plugin_env(spec, app, cmp_env):
    write_config(app / "prod.postrender.yaml", policy="Never")
    (app / "values-prod.yaml").write_text("replicaCount: 3\n")
    env = dict(cmp_env, ARGOCD_ENV_POSTRENDER_CONFIG="prod.postrender.yaml", ARGOCD_ENV_HELM_VALUES="values-prod.yaml")
    proc = run(spec["generate"]["command"], env, cwd=app)
    assert proc.returncode == 0, proc.stderr
    deployment = by_kind_name(documents(proc.stdout))["Deployment", "web-demo"]
    assert pull_policies(deployment) == ["Never"]
    assert deployment["spec"]["replicas"] == 3


def test_generate_fails_loudly(spec, app, cmp_env):
    (app / "postrender.yaml").write_text(BAD_CONFIG)
    bad_config = run(spec["generate"]["command"], cmp_env, cwd=app)
    assert bad_config.returncode != 0 and bad_config.stdout == ""
    assert "postrender: error:" in bad_config.stderr

    write_config(app / "postrender.yaml")
    (app / "templates" / "broken.yaml").write_text("{{ fail \"chart says no\" }}\n")
    bad_chart = run(spec["generate"]["command"], cmp_env, cwd=app)
    # A failing helm must fail generate, not hand postrender an empty stream.
    assert bad_chart.returncode != 0 and bad_chart.stdout == ""
    assert "chart says no" in bad_chart.stderr
