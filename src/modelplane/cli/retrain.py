"""`modelplane retrain-policy ...` and `modelplane retrain MODEL`: continuous training when new data arrives,
on a schedule, or by hand."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from modelplane.cli.context import platform
from modelplane.cli.output import console, fail, key_values, print_json, table
from modelplane.retrain.settings import DEFAULT_EPOCHS, DEFAULT_REPLAY, format_duration

if TYPE_CHECKING:
    from modelplane.retrain.views import FiringInfo, RetrainPolicyInfo

policy_app = typer.Typer(
    help="Retrain policies: when a model retrains itself, the gate it must pass, and how it rolls out.",
    no_args_is_help=True,
)


def _policy_rows(policy: RetrainPolicyInfo) -> list[tuple[str, Any]]:
    return [
        ("dataset", policy.dataset),
        ("trigger", policy.on),
        *([("alert rules", "; ".join(policy.when))] if policy.when else []),
        ("gate", policy.gate),
        ("canary", policy.canary),
        ("retrains by", policy.method),
        ("replay", policy.replay),
        ("epochs", policy.epochs),
        ("learning rate", policy.lr if policy.lr is not None else "a quarter of production's"),
        ("enabled", policy.enabled),
        ("last seen data", policy.last_seen_dataset),
        ("next tick", policy.next_fire_at),
        ("updated", policy.updated_at),
        ("by", policy.updated_by),
    ]


@policy_app.command("set")
def set_(
    model: Annotated[str, typer.Argument(help="Model name; its `production` version is what retrains")],
    data: Annotated[str, typer.Option(help="Dataset to watch, e.g. digits")],
    on: Annotated[
        str,
        typer.Option(
            help="new-data, manual, 'schedule:CRON' (5 fields, UTC, e.g. 'schedule:0 3 * * *'), drift "
            "(default rule 'drift > 0.2 for 2 windows') or accuracy-drop (default rules "
            "'live_accuracy < test_accuracy - 0.03' and 'estimated_accuracy < test_accuracy - 0.03')"
        ),
    ] = "new-data",
    when: Annotated[
        str | None,
        typer.Option(
            help="With --on drift / accuracy-drop: the alert rule that fires the retrain instead of the "
            "defaults, e.g. 'drift > 0.3 for 3 windows'; it watches every deployment serving MODEL"
        ),
    ] = None,
    gate: Annotated[
        str | None,
        typer.Option(
            help="What a candidate must reach on the test rows, e.g. 'accuracy>=production-0.002', "
            "'accuracy>=0.95', 'mse<=production*1.05' (default: no worse than production)"
        ),
    ] = None,
    canary: Annotated[
        str | None,
        typer.Option(help="PERCENT:DURATION of traffic before production moves, e.g. 10:15m (default none)"),
    ] = None,
    replay: Annotated[
        float, typer.Option(help="Share of old training rows replayed with the new")
    ] = DEFAULT_REPLAY,
    epochs: Annotated[int, typer.Option(help="Fine-tuning epochs")] = DEFAULT_EPOCHS,
    lr: Annotated[
        float | None, typer.Option(help="Fine-tuning learning rate (default: a quarter of production's)")
    ] = None,
    disabled: Annotated[bool, typer.Option("--disabled", help="Keep it, but fire only by hand")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Create or replace MODEL's retrain policy (everything is checked now)."""
    policy = platform().retrain_policies.set(
        model,
        data=data,
        on=on,
        gate=gate,
        canary=canary,
        replay=replay,
        epochs=epochs,
        lr=lr,
        enabled=not disabled,
        when=when,
    )
    if as_json:
        print_json(policy.to_dict())
        return
    key_values(f"retrain policy of {policy.model}", _policy_rows(policy))
    if not os.environ.get("MODELPLANE_URL"):
        console.print("policies fire while `modelplane up` or `modelplane worker` runs on this store")


@policy_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Every policy with its latest firing."""
    policies = platform().retrain_policies.list()
    if as_json:
        print_json([p.to_dict() for p in policies])
        return
    table(
        "retrain policies",
        ["model", "dataset", "trigger", "gate", "canary", "replay", "epochs", "enabled", "last firing"],
        [
            (
                p.model,
                p.dataset,
                p.on,
                p.gate,
                p.canary,
                p.replay,
                p.epochs,
                p.enabled,
                f"{p.history[0].state} ({p.history[0].created_at:%Y-%m-%d %H:%M})" if p.history else None,
            )
            for p in policies
        ],
    )


@policy_app.command("show")
def show(
    model: Annotated[str, typer.Argument(help="Model name")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """The policy and its recent firings: what fired, what the gate said, where each candidate went."""
    policy = platform().retrain_policies.get(model)
    if as_json:
        print_json(policy.to_dict())
        return
    key_values(f"retrain policy of {policy.model}", _policy_rows(policy))
    if policy.history:
        table(
            "firings (newest first)",
            ["#", "at", "trigger", "reason", "job", "state", "candidate", "detail"],
            [
                (f.id, f.created_at, f.trigger, f.reason, f.job_id, f.state, f.candidate, f.detail)
                for f in policy.history
            ],
        )


@policy_app.command("delete")
def delete(model: Annotated[str, typer.Argument(help="Model name")]) -> None:
    """Stop retraining MODEL (its history stays; a canary under way still finishes)."""
    platform().retrain_policies.delete(model)
    console.print(f"deleted the retrain policy of {model}")


def retrain(
    model: Annotated[str, typer.Argument(help="Model name (it needs a retrain policy)")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the job and print what happened")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the firing as JSON")] = False,
) -> None:
    """Retrain MODEL now on the newest version of its policy's dataset, as its policy says."""
    from modelplane.cli.worker import ensure_worker

    local = platform()
    firing = local.retrain(model)
    log = ensure_worker()
    if wait:
        job = local.jobs.wait(firing.job_id)
        firing = next(f for f in local.retrain_policies.get(model).history if f.id == firing.id)
        if job.state != "succeeded":
            fail(f"retrain job {job.id} {job.state}: {job.error or firing.detail}", 1)
    if as_json:
        print_json(firing.to_dict())
        return
    if not wait:
        console.print(
            f"retrain of {model} queued as job [bold]{firing.job_id}[/] ({firing.reason}); follow it with "
            f"`modelplane jobs logs {firing.job_id} --follow`"
        )
        if log is not None:
            console.print(f"started a worker for it (it exits when no job is left; log: {log})")
    else:
        console.print(f"retrain of {model}: [bold]{firing.state}[/]: {firing.detail}")
    note = _promotion_note(firing, waited=wait)
    if note:
        console.print(note)


def _promotion_note(firing: FiringInfo, *, waited: bool) -> str | None:
    """In-process, a canary's later promotion is done by a watcher that keeps running: the worker started for
    the job exits once it is done, so say what the promotion needs rather than let it wait in silence."""
    from modelplane.retrain.views import CANARY  # SQLAlchemy: not at every CLI start

    if os.environ.get("MODELPLANE_URL"):
        return None  # the server's own watcher finishes it
    if waited:
        if firing.state != CANARY or firing.canary_until is None:
            return None
        when = f"at {firing.canary_until:%Y-%m-%d %H:%M:%S} UTC"
    else:
        seconds = firing.settings.get("canary_seconds")
        if not seconds:
            return None
        when = f"{format_duration(float(seconds))} after its canary starts"
    return (
        f"note: production moves to the candidate {when} only while `modelplane up` or "
        "`modelplane worker` (without --until-idle) runs on this store; start one to finish the rollout"
    )
