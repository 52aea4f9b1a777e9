"""`modelplane monitor alert add|list|remove`, `monitor alerts` (what fired and resolved) and `monitor export`
(Prometheus alerting rules and a Grafana dashboard for a deployment)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelplane.cli.context import platform
from modelplane.cli.output import console, err_console, fail, print_json, table

if TYPE_CHECKING:
    from modelplane.monitoring.alert_store import AlertRuleInfo

alert_app = typer.Typer(
    help="Alert rules per deployment, e.g. 'drift > 0.2 for 2 windows' or 'live_accuracy < test_accuracy - "
    "0.03'; firing and resolving are stored, audited and sent to webhooks (events alert.firing/resolved).",
    no_args_is_help=True,
)

RULE_HELP = (
    "The rule: metrics and numbers joined by + and -, compared by < <= > >=, optionally 'for N windows'. "
    "Metrics: requests, rows, error_rate, p50_ms, p99_ms, drift, drift_max, prediction_drift, "
    "feature_drift.<feature>, missing_rate, out_of_range_rate, unseen_rate, live_accuracy, live_f1, "
    "live_mae, live_rmse, labelled, estimated_accuracy, test_accuracy, test_f1, test_mae, test_rmse"
)


def _rules_table(title: str, rules: list[AlertRuleInfo]) -> None:
    table(
        title,
        ["id", "deployment", "rule", "state", "breaches", "origin"],
        [(r.id, r.deployment, r.text, r.state, f"{r.breaches}/{r.for_windows}", r.origin) for r in rules],
    )


@alert_app.command("add")
def add(
    deployment: Annotated[str, typer.Argument(help="The deployment to watch")],
    when: Annotated[str, typer.Option("--when", help=RULE_HELP)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the rule as JSON")] = False,
) -> None:
    """Watch DEPLOYMENT with a rule, checked on every monitor window."""
    rule = platform().alerts.add(deployment, when)
    if as_json:
        print_json(rule.to_dict())
        return
    console.print(f"alert rule [bold]{rule.id}[/] on {rule.deployment}: {rule.text}", highlight=False)


@alert_app.command("list")
def list_(
    deployment: Annotated[str | None, typer.Argument(help="Only this deployment's rules")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Alert rules and where each stands (ok or firing; breaches so far of those needed)."""
    rules = platform().alerts.rules(deployment)
    if as_json:
        print_json([r.to_dict() for r in rules])
        return
    _rules_table(f"alert rules of {deployment}" if deployment else "alert rules", rules)


@alert_app.command("remove")
def remove(rule_id: Annotated[int, typer.Argument(help="The rule's id (`monitor alert list`)")]) -> None:
    """Stop a rule; its history stays. A retrain policy's rules go when the policy changes or goes."""
    platform().alerts.remove(rule_id)
    console.print(f"removed alert rule {rule_id}", highlight=False)


def alerts(
    deployment: Annotated[str | None, typer.Argument(help="Only this deployment's alerts")] = None,
    limit: Annotated[int, typer.Option(help="How many, newest first")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """What fired and resolved: the rule, the version, the value against its threshold, when."""
    found = platform().alerts.history(deployment, limit=limit)
    if as_json:
        print_json([e.to_dict() for e in found])
        return
    table(
        "alerts (newest first)",
        ["at", "deployment", "version", "state", "rule", "value", "threshold", "episode"],
        [(e.at, e.deployment, e.version, e.state, e.rule, e.value, e.threshold, e.episode) for e in found],
    )


def export(
    deployment: Annotated[str, typer.Argument(help="The deployment")],
    out: Annotated[Path, typer.Option("-o", "--output", help="Folder to write into (created if missing)")],
    grafana: Annotated[bool, typer.Option("--grafana", help="Write a Grafana dashboard JSON")] = False,
    prometheus_rules: Annotated[
        bool, typer.Option("--prometheus-rules", help="Write Prometheus alerting rules YAML")
    ] = False,
) -> None:
    """Prometheus alerting rules (the deployment's rules in PromQL, plus p99 latency and error rate) and a
    Grafana dashboard for DEPLOYMENT; both when neither flag is given."""
    from modelplane.monitoring.alert_export import export as build

    local = platform()
    info = local.deployments.get(deployment)
    made = build(deployment, local.alerts.rules(deployment), info.spec.monitoring.every_s)
    both = not (grafana or prometheus_rules)
    if out.exists() and not out.is_dir():
        fail(f"{out} is a file; give a folder to write the exports into")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if prometheus_rules or both:
        path = out / f"{deployment}-alerts.rules.yml"
        path.write_text(made.rules_yaml)
        written.append(path)
    if grafana or both:
        path = out / f"{deployment}-dashboard.json"
        path.write_text(json.dumps(made.dashboard, indent=2) + "\n")
        written.append(path)
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    for reason in made.skipped:
        err_console.print(f"[yellow]note:[/] not in the Prometheus rules: {reason}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(alert_app, name="alert")
    app.command("alerts")(alerts)
    app.command("export")(export)
