"""Pull-secret reach for operator custom resources and the release namespace (issue 13).

Each operator CR's pull-secret field and shape is restated here from the operator's Go types or
CRD (see kinds.BUILTIN_PULL_SECRET_FIELDS for the citations), one case per table row, and
checked on the output as a fresh PyYAML parse reads it.
"""

from __future__ import annotations

import textwrap

import pytest
import yaml

from postrender.config.loader import load_config_text
from postrender.kinds import BUILTIN_PULL_SECRET_FIELDS
from postrender.pipeline import run_stream
from tests.conftest import run_cli, write_config

HEAD = "apiVersion: postrender/v1alpha1\nkind: PostRenderer\nrules:\n"
INJECT = "- imagePullSecrets: {names: [regcred]}\n"
CREDS = {"POSTRENDER_VAR_registry": "mirror.example.com", "POSTRENDER_VAR_username": "u",
         "POSTRENDER_VAR_password": "op-pw-1234"}
REF = [{"name": "regcred"}]


def run(rules: str, data: str, env=None, namespace: str = ""):
    cfg = load_config_text(HEAD + rules, "t.yaml", environ=env or {})
    return run_stream(cfg, textwrap.dedent(data).encode(), namespace=namespace)


def objects(output: bytes) -> list[dict]:
    return [d for d in yaml.safe_load_all(output) if d]


def dig(obj, path: str):
    for step in path.split("."):
        obj = obj[int(step)] if isinstance(obj, list) else obj[step]
    return obj


# (apiVersion, kind, spec as YAML, path of the list after the rule, expected list)
CR_CASES = [
    *[(f"monitoring.coreos.com/{v}", k, "image: quay.io/prometheus/x:v1", "spec.imagePullSecrets", REF)
      for v, k in (("v1", "Prometheus"), ("v1", "Alertmanager"), ("v1", "ThanosRuler"), ("v1alpha1", "PrometheusAgent"))],
    ("monitoring.grafana.com/v1alpha1", "GrafanaAgent", "image: docker.io/grafana/agent:v0.44.2",
     "spec.imagePullSecrets", REF),
    *[("argoproj.io/v1alpha1", k, "templates: [{name: m, container: {image: busybox}}]", "spec.imagePullSecrets", REF)
      for k in ("Workflow", "WorkflowTemplate", "ClusterWorkflowTemplate")],
    ("argoproj.io/v1alpha1", "CronWorkflow", "workflowSpec: {templates: [{name: m, container: {image: busybox}}]}",
     "spec.workflowSpec.imagePullSecrets", REF),
    ("argoproj.io/v1alpha1", "EventSource", "template: {serviceAccountName: x}", "spec.template.imagePullSecrets", REF),
    ("argoproj.io/v1alpha1", "Sensor", "template: {serviceAccountName: x}", "spec.template.imagePullSecrets", REF),
    ("tekton.dev/v1", "TaskRun", "taskSpec: {steps: [{name: s, image: golang}]}", "spec.podTemplate.imagePullSecrets", REF),
    ("tekton.dev/v1beta1", "TaskRun", "taskRef: {name: t}", "spec.podTemplate.imagePullSecrets", REF),
    ("tekton.dev/v1", "PipelineRun", "pipelineRef: {name: p}", "spec.taskRunTemplate.podTemplate.imagePullSecrets", REF),
    ("tekton.dev/v1beta1", "PipelineRun", "pipelineRef: {name: p}", "spec.podTemplate.imagePullSecrets", REF),
    ("caching.internal.knative.dev/v1alpha1", "Image", "image: gcr.io/knative-releases/queue:1",
     "spec.imagePullSecrets", REF),
    ("sparkoperator.k8s.io/v1beta2", "SparkApplication", "image: docker.io/apache/spark:3.5.0\n  imagePullPolicy: Always",
     "spec.imagePullSecrets", ["regcred"]),
    ("sparkoperator.k8s.io/v1beta2", "ScheduledSparkApplication", "template: {image: docker.io/apache/spark:3.5.0}",
     "spec.template.imagePullSecrets", ["regcred"]),
    ("flink.apache.org/v1beta1", "FlinkDeployment", "image: flink:1.20", "spec.podTemplate.spec.imagePullSecrets", REF),
    ("postgresql.cnpg.io/v1", "Cluster", "imageName: ghcr.io/cloudnative-pg/postgresql:17.5", "spec.imagePullSecrets", REF),
    *[("pkg.crossplane.io/v1", k, "package: xpkg.upbound.io/upbound/provider-aws-s3:v1", "spec.packagePullSecrets", REF)
      for k in ("Provider", "Function", "Configuration")],
    ("elasticsearch.k8s.elastic.co/v1", "Elasticsearch", "nodeSets: [{name: default, count: 1}]",
     "spec.nodeSets.0.podTemplate.spec.imagePullSecrets", REF),
    *[(f"{g}.k8s.elastic.co/v1", k, "image: docker.elastic.co/x:8", "spec.podTemplate.spec.imagePullSecrets", REF)
      for g, k in (("kibana", "Kibana"), ("apm", "ApmServer"), ("enterprisesearch", "EnterpriseSearch"),
                   ("maps", "ElasticMapsServer"), ("logstash", "Logstash"))],
]


def cr(api: str, kind: str, spec: str, name: str = "x", namespace: str | None = "ops") -> str:
    ns = f"\n  namespace: {namespace}" if namespace else ""
    return f"apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: {name}{ns}\nspec:\n  {spec}\n"


@pytest.mark.parametrize("api,kind,spec,path,expected", CR_CASES, ids=[f"{c[1]}-{c[0]}" for c in CR_CASES])
def test_each_operator_cr_gets_the_secret_in_its_own_field(api, kind, spec, path, expected):
    result = run(INJECT, cr(api, kind, spec))
    (obj,) = objects(result.output)
    assert dig(obj, path) == expected
    # idempotent: a second run changes nothing
    assert run(INJECT, result.output.decode()).output == result.output


def test_every_table_row_has_a_case():
    covered = {(api.split("/")[0], kind) for api, kind, *_ in CR_CASES}
    rows = {(api.split("/")[0], kind) for api, kind, _p, shape in BUILTIN_PULL_SECRET_FIELDS if shape != "serviceAccount"}
    assert rows <= covered


def test_existing_entries_are_merged_and_the_key_goes_after_the_image():
    data = cr("monitoring.coreos.com/v1", "Prometheus",
              "image: quay.io/prometheus/prometheus:v3\n  imagePullPolicy: IfNotPresent\n  replicas: 2\n"
              "  imagePullSecrets: [{name: corp}, {name: regcred}, {name: regcred}]")
    (obj,) = objects(run(INJECT, data).output)
    assert obj["spec"]["imagePullSecrets"] == [{"name": "corp"}, {"name": "regcred"}]
    new = run(INJECT, cr("monitoring.coreos.com/v1", "Prometheus",
                         "image: quay.io/prometheus/prometheus:v3\n  imagePullPolicy: IfNotPresent\n  replicas: 2"))
    assert list(objects(new.output)[0]["spec"]) == ["image", "imagePullPolicy", "imagePullSecrets", "replicas"]
    spark = run(INJECT, cr("sparkoperator.k8s.io/v1beta2", "SparkApplication",
                           "image: spark:3.5\n  imagePullSecrets: [corp, regcred, regcred]"))
    assert objects(spark.output)[0]["spec"]["imagePullSecrets"] == ["corp", "regcred"]


PROMETHEUS_ON_MIRROR = cr("monitoring.coreos.com/v1", "Prometheus", "image: mirror.example.com/quay/prometheus/prometheus:v3",
                          name="mirrored")
PROMETHEUS_PUBLIC = cr("monitoring.coreos.com/v1", "Prometheus", "image: quay.io/prometheus/prometheus:v3", name="public")
AGENT_CONTAINER_ON_MIRROR = cr("monitoring.grafana.com/v1alpha1", "GrafanaAgent",
                               "containers: [{name: extra, image: mirror.example.com/hub/busybox}]", name="agent")


def test_registries_count_the_images_of_the_custom_resource():
    rules = "- imagePullSecrets: {names: [regcred], registries: [mirror.example.com]}\n"
    out = objects(run(rules, "---\n".join([PROMETHEUS_ON_MIRROR, PROMETHEUS_PUBLIC, AGENT_CONTAINER_ON_MIRROR])).output)
    got = {o["metadata"]["name"]: o["spec"].get("imagePullSecrets") for o in out}
    assert got == {"mirrored": REF, "public": None, "agent": REF}


def test_registry_rewrite_then_secret_reaches_the_moved_crs():
    rules = ("- registryRewrite: {mirrors: [{from: quay.io, to: mirror.example.com/quay}]}\n"
             "- imagePullSecrets: {names: [regcred], registries: [mirror.example.com]}\n")
    (obj,) = objects(run(rules, PROMETHEUS_PUBLIC).output)
    assert obj["spec"] == {"image": "mirror.example.com/quay/prometheus/prometheus:v3", "imagePullSecrets": REF}


def test_pull_secret_is_generated_for_the_namespaces_of_crs_and_references_resolve():
    rules = INJECT + "- pullSecret: {name: regcred}\n- pullSecretReferences: {action: error}\n"
    data = "---\n".join([
        cr("monitoring.coreos.com/v1", "Prometheus", "image: quay.io/p:1", namespace="monitoring"),
        cr("argoproj.io/v1alpha1", "Workflow", "templates: []", namespace="ci"),
        cr("argoproj.io/v1alpha1", "ClusterWorkflowTemplate", "templates: []", namespace=None),
    ])
    result = run(rules, data, CREDS)
    assert result.failures == []
    secrets = [o for o in objects(result.output) if o["kind"] == "Secret"]
    # The cluster-scoped template needs none: its names resolve where a Workflow uses it.
    assert sorted(s["metadata"].get("namespace", "") for s in secrets) == ["ci", "monitoring"]


def test_dangling_reference_in_a_cr_is_reported_and_removed():
    data = cr("monitoring.coreos.com/v1", "Alertmanager", "imagePullSecrets: [{name: gone}]", name="main")
    result = run("- pullSecretReferences: {action: warn}\n", data)
    assert any("Alertmanager/ops/main: spec.imagePullSecrets[0]: no Secret 'gone'" in w for w in result.warnings)
    removed = objects(run("- pullSecretReferences: {action: remove}\n", data).output)[0]
    assert "imagePullSecrets" not in removed["spec"]
    spark = cr("sparkoperator.k8s.io/v1beta2", "SparkApplication", "imagePullSecrets: [gone, kept]")
    out = objects(run("- pullSecretReferences: {action: remove, external: [kept]}\n", spark).output)[0]
    assert out["spec"]["imagePullSecrets"] == ["kept"]


# ---- OpenTelemetryCollector: no field, its ServiceAccount ------------------------------------------

OTEL = cr("opentelemetry.io/v1beta1", "OpenTelemetryCollector",
          "image: ghcr.io/open-telemetry/opentelemetry-collector-releases/opentelemetry-collector-contrib:0.132.4\n"
          "  serviceAccount: otel", name="otel", namespace="obs")
OTEL_SA = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: otel, namespace: obs}\n"
OTHER_SA = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: other, namespace: obs}\n"


def test_otel_collector_gets_no_invented_field_but_a_warning():
    result = run(INJECT, OTEL)
    (obj,) = objects(result.output)
    assert "imagePullSecrets" not in obj["spec"]
    assert len(result.warnings) == 1
    assert "OpenTelemetryCollector/obs/otel: a OpenTelemetryCollector has no pull-secret field" in result.warnings[0]
    assert "set serviceAccounts: true" in result.warnings[0]


def test_otel_collector_service_account_gets_the_names_when_registries_select_the_collector():
    rules = "- imagePullSecrets: {names: [regcred], registries: [ghcr.io], serviceAccounts: true}\n"
    result = run(rules, "---\n".join([OTEL, OTEL_SA, OTHER_SA]))
    got = {o["metadata"]["name"]: o.get("imagePullSecrets") for o in objects(result.output) if o["kind"] == "ServiceAccount"}
    assert got == {"otel": REF, "other": None}
    assert result.warnings == []


def test_otel_collector_without_service_account_names_the_one_the_operator_creates():
    data = cr("opentelemetry.io/v1beta1", "OpenTelemetryCollector", "image: otel/collector:1", name="c", namespace="obs")
    result = run("- imagePullSecrets: {names: [regcred], serviceAccounts: true}\n", data)
    assert len(result.warnings) == 1 and "'c-collector', which the operator creates" in result.warnings[0]


# ---- names as a template that renders a list -------------------------------------------------------

@pytest.mark.parametrize("names,variables,expected", [
    ('"{{ pullSecrets }}"', {"pullSecrets": ["a", "b"]}, ["a", "b"]),
    ('"{{ pullSecrets | tojson }}"', {"pullSecrets": ["a", "b"]}, ["a", "b"]),
    ('"{{ pullSecrets }}"', {"pullSecrets": "a, b c"}, ["a", "b", "c"]),
    ('["{{ first }}", "{{ more }}"]', {"first": "a", "more": ["b", "a"]}, ["a", "b"]),
    ("[plain]", {}, ["plain"]),
])
def test_names_may_be_a_template_rendering_a_list(names, variables, expected, tmp_path):
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(variables))
    cfg = load_config_text(HEAD + f"- imagePullSecrets: {{names: {names}}}\n", "t.yaml", values_files=[str(values)])
    out = run_stream(cfg, b"apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: x}]}\n")
    assert [e["name"] for e in objects(out.output)[0]["spec"]["imagePullSecrets"]] == expected


@pytest.mark.parametrize("names,variables,message", [
    ('"{{ pullSecrets }}"', {"pullSecrets": []}, "give at least one Secret name"),
    ('"{{ pullSecrets }}"', {"pullSecrets": ["Bad_Name"]}, "'Bad_Name' is not a valid Secret name"),
    ('"{{ pullSecrets }}"', {"pullSecrets": [{"name": "a"}]}, "which is not a list of Secret names"),
    ("7", {}, "must be a list of Secret names, or a template that renders to one"),
])
def test_bad_rendered_names_are_config_errors(names, variables, message, tmp_path):
    from postrender.errors import ConfigError

    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(variables))
    with pytest.raises(ConfigError, match=message):
        load_config_text(HEAD + f"- imagePullSecrets: {{names: {names}}}\n", "t.yaml", values_files=[str(values)])


# ---- the release namespace ----------------------------------------------------------------------------

MIXED = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: explicit, namespace: prtest}
spec: {template: {spec: {containers: [{name: c, image: a}]}}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: implicit}
spec: {template: {spec: {containers: [{name: c, image: a}]}}}
---
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata: {name: k8s}
spec: {image: quay.io/prometheus/prometheus:v3}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: elsewhere, namespace: other}
spec: {template: {spec: {containers: [{name: c, image: a}]}}}
"""
GENERATE = INJECT + "- pullSecret: {name: regcred}\n- pullSecretReferences: {action: error}\n"


def secret_namespaces(output: bytes) -> list[str]:
    return sorted(o["metadata"].get("namespace", "") for o in objects(output) if o["kind"] == "Secret")


def test_one_secret_per_real_namespace_with_the_release_namespace():
    result = run(GENERATE, MIXED, CREDS, namespace="prtest")
    assert result.failures == []
    assert secret_namespaces(result.output) == ["other", "prtest"]


def test_without_the_release_namespace_namespaceless_resources_get_a_namespaceless_secret():
    result = run(GENERATE, MIXED, CREDS)
    assert result.failures == []
    assert secret_namespaces(result.output) == ["", "other", "prtest"]


@pytest.mark.parametrize("secret_ns,namespace,dangling", [
    (None, "prtest", False),      # a namespace-less Secret is in prtest too
    ("prtest", "prtest", False),  # the explicit one serves the namespace-less references
    ("prtest", "", True),         # unknown release namespace: namespace-less refs do not see it
    (None, "", True),             # ...and the explicit prtest reference does not see this one
])
def test_references_resolve_in_the_release_namespace(secret_ns, namespace, dangling):
    ns = f", namespace: {secret_ns}" if secret_ns else ""
    secret = f"apiVersion: v1\nkind: Secret\nmetadata: {{name: regcred{ns}}}\ntype: kubernetes.io/dockerconfigjson\n"
    deployments = MIXED.split("---\n")[:2]
    result = run(INJECT + "- pullSecretReferences: {action: error}\n", "---\n".join([*deployments, secret]),
                 namespace=namespace)
    assert bool(result.failures) is dangling
    generated = run(INJECT + "- pullSecret: {name: regcred}\n", "---\n".join([*deployments, secret]), CREDS,
                    namespace=namespace)
    # With the release namespace, the one Secret serves both Deployments: none is generated.
    # Without it, the namespace the Secret does not serve gets one.
    namespaces = secret_namespaces(generated.output)
    assert len(namespaces) == (1 if namespace == "prtest" else 2)
    assert len(set(namespaces)) == len(namespaces)


@pytest.mark.parametrize("args,env,expected", [
    (["-n", "prtest"], {}, ["other", "prtest"]),
    (["--namespace=prtest"], {}, ["other", "prtest"]),
    ([], {"HELM_NAMESPACE": "prtest"}, ["other", "prtest"]),
    (["--namespace", "other"], {"HELM_NAMESPACE": "prtest"}, ["other", "prtest"]),
    ([], {}, ["", "other", "prtest"]),
])
def test_namespace_option_and_helm_namespace_on_the_command_line(tmp_path, args, env, expected):
    cfg = write_config(tmp_path, "rules:\n" + GENERATE)
    r = run_cli(["-c", str(cfg), *args], MIXED.encode(), env={**CREDS, **env})
    assert r.code == 0, r.err
    got = secret_namespaces(r.out)
    if args[:1] == ["--namespace"]:  # --namespace other wins over $HELM_NAMESPACE
        assert got == ["other", "prtest"] and [o["metadata"].get("namespace") for o in objects(r.out)
                                                if o["kind"] == "Secret"].count("other") == 1
    else:
        assert got == expected


def test_fast_path_and_typer_agree_on_namespace(tmp_path):
    from postrender.runner import parse_run_args

    assert parse_run_args(["run", "-n", "prtest"])["namespace"] == "prtest"
    assert parse_run_args(["run", "--namespace=prtest"])["namespace"] == "prtest"
    cfg = write_config(tmp_path, "rules:\n" + GENERATE)
    # diff goes through typer: the same Secrets as run (exit 1: there are differences)
    r = run_cli(["diff", "-c", str(cfg), "-n", "prtest", "--color=never"], MIXED.encode(), env=CREDS)
    assert r.code == 1, r.err
    assert r.text.count("+kind: Secret") == 2 and "+  namespace: \"prtest\"" in r.text


def test_knative_service_gets_the_secret_and_a_core_service_is_not_even_parsed():
    data = ("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n---\n"
            "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {name: hello}\n"
            "spec:\n  template:\n    spec:\n      containers: [{image: ghcr.io/knative/helloworld-go}]\n")
    result = run(INJECT + "- pullSecret: {name: regcred}\n- pullSecretReferences: {action: error}\n", data, CREDS)
    core, knative, *_ = objects(result.output)
    assert "imagePullSecrets" not in core["spec"]
    assert knative["spec"]["template"]["spec"]["imagePullSecrets"] == REF
    assert result.stream.documents[0].loaded is False  # the header says v1 Service: no pod spec
