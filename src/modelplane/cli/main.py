"""The `modelplane` command: a thin shell over the library (or the server's client)."""

from __future__ import annotations

import typer

from modelplane import __version__
from modelplane.cli import (
    batch,
    compress,
    data,
    gc,
    jobs,
    models,
    monitor,
    package,
    retrain,
    runs,
    security,
    serving,
    train,
    tune,
    up,
    worker,
)
from modelplane.cli import events as events_cli
from modelplane.cli.output import fail
from modelplane.errors import ModelplaneError

app = typer.Typer(
    name="modelplane",
    help="Self-hosted model-as-a-service: data, training, tuning, compression, registry, serving, jobs, keys "
    "and audit. Works in-process on MODELPLANE_HOME, or against `modelplane up` when MODELPLANE_URL is set.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data.app, name="data")
app.add_typer(runs.app, name="runs")
app.add_typer(models.app, name="models")
app.command("train")(train.train)
app.add_typer(tune.app, name="tune")
app.command("eval")(train.evaluate)
app.command("export")(train.export)
app.command("compress")(compress.compress)
app.command("compare")(compress.compare)
app.add_typer(serving.deployments_app, name="deployments")
app.command("deploy")(serving.deploy)
app.command("serve")(serving.serve)
app.command("package")(package.package)
app.command("predict")(serving.predict)
app.command("batch")(batch.batch)
app.add_typer(jobs.app, name="jobs")
app.add_typer(retrain.policy_app, name="retrain-policy")
app.command("retrain")(retrain.retrain)
app.command("worker")(worker.worker)
app.command("up")(up.up)
app.add_typer(security.keys_app, name="keys")
app.add_typer(security.usage_app, name="usage")
app.add_typer(security.audit_app, name="audit")
app.add_typer(events_cli.webhooks_app, name="webhooks")
app.command("events")(events_cli.events)
app.command("gc")(gc.gc)
app.add_typer(monitor.app, name="monitor")


@app.command("version")
def version() -> None:
    """Print the modelplane version."""
    print(__version__)


def main() -> None:
    try:
        app()
    except ModelplaneError as exc:
        fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        fail("interrupted", 130)


if __name__ == "__main__":
    main()
