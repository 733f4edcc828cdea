"""Prometheus and Grafana as deployed: promtool accepts the configuration and the alert rules,
every query names only metrics that common.metrics defines (or Prometheus itself makes), every
service is scraped in compose and annotated for scraping in k8s."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from common import metrics
from tests.support.deploy import ROOT, compose, environment, objects, services
from tests.support.services import skip_or_fail

PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARDS = GRAFANA / "dashboards"
METRICS_PORT = "9464"

PROMETHEUS_SERIES = {"up"}
"""Series Prometheus makes itself, which alert rules may use."""

HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")
PROMQL_WORDS = {
    "sum", "max", "min", "avg", "count", "topk", "by", "without", "rate", "increase",
    "histogram_quantile", "and", "or", "unless", "on", "ignoring", "le", "bool",
}  # fmt: skip
"""Functions, aggregations and keywords the queries use: not metric names."""


def defined_series() -> set[str]:
    """Every series name common.metrics exposes: counters with _total, histograms' parts."""
    found = set()
    for name in metrics.metric_names():
        found.add(name)
        found.update(name + suffix for suffix in HISTOGRAM_SERIES)
    return found


def metric_names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (label matchers, strings, ranges and
    Grafana's $variables taken out first)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\$\w+", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", expr)
    words = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr))
    return {w for w in words if w not in PROMQL_WORDS and not re.fullmatch(r"\d.*", w)}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        skip_or_fail("promtool not installed (Debian's prometheus package; .ci/run installs it)")
    return found


def run_promtool(*args: str) -> None:
    result = subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def dashboards() -> list[Path]:
    found = sorted(DASHBOARDS.glob("*.json"))
    assert found, "no dashboard"
    return found


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = []
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            exprs.extend(t["expr"] for t in inner.get("targets", []))
    return exprs


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


# ---------------------------------------------------------------- promtool


def test_promtool_accepts_the_alert_rules() -> None:
    run_promtool("check", "rules", str(PROMETHEUS / "alerts.yml"))


def test_promtool_accepts_the_configuration() -> None:
    run_promtool("check", "config", str(PROMETHEUS / "prometheus.yml"))


# ---------------------------------------------------------------- what the queries read


def test_the_issue_names_its_metrics_in_common_metrics() -> None:
    assert set(metrics.metric_names()) >= {
        "http_server_request_duration_seconds",
        "videoflix_transcode_jobs_total",
        "videoflix_transcode_duration_seconds",
        "videoflix_transcode_realtime_factor",
        "videoflix_upload_bytes_total",
        "videoflix_segment_bytes_total",
        "videoflix_outbox_pending",
        "videoflix_outbox_oldest_age_seconds",
        "videoflix_bus_dead_letters_total",
        "videoflix_mail_sent_total",
        "videoflix_login_attempts_total",
    }


def test_the_query_parser_finds_metric_names() -> None:
    expr = (
        'sum by (le, service) (rate(http_server_request_duration_seconds_bucket{a="b"}'
        "[$__rate_interval])) / on(x) videoflix_outbox_pending > 0.05"
    )
    assert metric_names_in(expr) == {
        "http_server_request_duration_seconds_bucket",
        "videoflix_outbox_pending",
    }


def test_dashboards_parse_and_query_only_defined_metrics() -> None:
    defined = defined_series()
    for path in dashboards():
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] and dashboard["title"], path
        exprs = dashboard_exprs(dashboard)
        assert exprs, f"{path.name}: no query"
        for expr in exprs:
            names = metric_names_in(expr)
            assert names, f"{path.name}: no metric in {expr!r}"
            assert names <= defined, f"{path.name}: undefined {names - defined} in {expr!r}"
        used = set().union(*(metric_names_in(e) for e in exprs))
        shown = {n.removesuffix(s) for n in used for s in ("", *HISTOGRAM_SERIES) if n.endswith(s)}
        missing = set(metrics.metric_names()) - shown
        assert not missing, f"{path.name} shows nothing of {missing}"


def test_alert_rules_query_only_defined_metrics_and_cover_the_issue() -> None:
    defined = defined_series() | PROMETHEUS_SERIES
    read: set[str] = set()
    for rule in alert_rules():
        names = metric_names_in(rule["expr"])
        assert names <= defined, f"{rule['alert']}: undefined {names - defined}"
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        read |= names
    assert {
        "videoflix_bus_dead_letters_total",
        "videoflix_outbox_oldest_age_seconds",
        "videoflix_transcode_jobs_total",
        "http_server_request_duration_seconds_count",
    } <= read


def test_grafana_provisions_the_datasource_the_dashboards_use() -> None:
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    for path in dashboards():
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/videoflix.yml").read_text())
    mounts = compose()["grafana"]["volumes"]
    (provider,) = providers["providers"]
    assert any(m.endswith(f":{provider['options']['path']}:ro") for m in mounts), mounts


# ---------------------------------------------------------------- compose and k8s


def test_compose_scrapes_every_service_on_its_metrics_port() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: [t for c in job["static_configs"] for t in c["targets"]]
        for job in config["scrape_configs"]
    }
    for service in services():
        assert environment(compose()[service])["METRICS_PORT"] == METRICS_PORT, service
        assert targets.get(service) == [f"{service}:{METRICS_PORT}"], service
    assert "alerts.yml" in config["rule_files"]


def test_k8s_pods_are_annotated_for_scraping() -> None:
    deployments = objects("Deployment")
    assert set(deployments) == {*services(), "edge"}  # the edge (nginx) exports no metrics
    for name in services():
        deployment = deployments[name]
        template = deployment["spec"]["template"]
        annotations = template["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", name
        assert annotations.get("prometheus.io/port") == METRICS_PORT, name
        (container,) = template["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env.get("METRICS_PORT") == METRICS_PORT, name
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports.get("metrics") == int(METRICS_PORT), name
    for name, service in objects("Service").items():  # the metrics port stays off Services
        ports = [p.get("targetPort") for p in service["spec"]["ports"]]
        assert "metrics" not in ports and int(METRICS_PORT) not in ports, name
