"""`modelplane webhooks ...` and `modelplane events`: signed event deliveries, and the event stream."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from modelplane.cli.context import platform
from modelplane.cli.output import console, err_console, print_json, table

webhooks_app = typer.Typer(
    help="Webhooks (admin): URLs that receive signed platform events — add, list, remove, test, deliveries.",
    no_args_is_help=True,
)


def _types(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@webhooks_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="http:// or https:// URL that receives a POST per event")],
    events: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated event types, e.g. model.version.registered,model.alias.moved "
            "(default: all; `modelplane events --types-list` shows them)"
        ),
    ] = None,
    secret: Annotated[
        str | None, typer.Option(help="Signing secret (8+ characters); generated and shown once if left out")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the webhook and its secret as JSON")] = False,
) -> None:
    """Add a webhook; each delivery is signed: X-Modelplane-Signature = sha256=HMAC(secret, "TS.BODY")."""
    made = platform().webhooks.add(url, events=_types(events), secret=secret)
    if as_json:
        print_json(made.to_dict())
        return
    info = made.info
    console.print(
        f"added webhook [bold]{info.id}[/] -> {info.url} ({', '.join(info.events) or 'every event'}); "
        f"secret {info.secret_at_rest}",
        highlight=False,
    )
    if secret is None:
        print(made.secret)
        err_console.print("[yellow]store this secret now: it is shown only once[/]", highlight=False)


@webhooks_app.command("list")
def list_(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Every webhook with the events it hears (never its secret)."""
    hooks = platform().webhooks.list()
    if as_json:
        print_json([h.to_dict() for h in hooks])
        return
    table(
        "Webhooks",
        ["id", "url", "events", "secret", "created", "by"],
        [
            (h.id, h.url, ", ".join(h.events) or "all", h.secret_at_rest, h.created_at, h.created_by)
            for h in hooks
        ],
    )


@webhooks_app.command("remove")
def remove(webhook_id: Annotated[str, typer.Argument(help="The webhook id")]) -> None:
    """Remove a webhook and its delivery log; deliveries still owed to it are dropped."""
    platform().webhooks.remove(webhook_id)
    console.print(f"removed webhook {webhook_id}", highlight=False)


@webhooks_app.command("test")
def test(webhook_id: Annotated[str, typer.Argument(help="The webhook id")]) -> None:
    """Send a `ping` event now and show what the receiver answered."""
    found = platform().webhooks.test(webhook_id)
    if found.state == "succeeded":
        console.print(f"ping delivered: HTTP {found.status_code}", highlight=False)
        return
    err_console.print(f"ping failed: {found.last_error}", highlight=False, markup=False)
    raise typer.Exit(1)


@webhooks_app.command("deliveries")
def deliveries(
    webhook_id: Annotated[str, typer.Argument(help="The webhook id")],
    limit: Annotated[int, typer.Option(help="How many, newest first")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """The delivery log: event, state, attempts, last status code and error, next retry."""
    found = platform().webhooks.deliveries(webhook_id, limit=limit)
    if as_json:
        print_json([d.to_dict() for d in found])
        return
    table(
        f"Deliveries of webhook {webhook_id}",
        ["delivery", "event", "id", "state", "attempts", "status", "last error", "next retry"],
        [
            (
                d.id[:12],
                d.event_type,
                d.event_id,
                d.state,
                d.attempts,
                d.status_code,
                d.last_error,
                d.next_attempt_at,
            )
            for d in found
        ],
    )


def events(
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing events as they happen")
    ] = False,
    types: Annotated[str | None, typer.Option(help="Comma-separated event types (default: all)")] = None,
    after: Annotated[
        int | None,
        typer.Option(help="Start after this event id (default: the newest --limit; with --follow, now)"),
    ] = None,
    limit: Annotated[int, typer.Option(help="Events to show without --follow")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line")] = False,
    types_list: Annotated[bool, typer.Option("--types-list", help="List the event types and exit")] = False,
) -> None:
    """Platform events your role may see (registry, deployments, jobs, keys ...), oldest first."""
    if types_list:
        from modelplane.events.catalogue import CATALOGUE

        table("Event types", ["type", "what", "needs"], [(t.name, t.about, t.needs) for t in CATALOGUE])
        return
    area = platform().events
    wanted = _types(types)
    if not follow:
        found = area.list(types=wanted, after=after, limit=limit)
        if as_json:
            for event in found:
                print(json.dumps(event.to_dict()))
            return
        table(
            "Events",
            ["id", "at", "type", "target", "actor"],
            [(e.id, e.at, e.type, e.target, e.actor) for e in found],
        )
        return
    for event in area.stream(types=wanted, last_id=after):
        if as_json:
            print(json.dumps(event.to_dict()), flush=True)
        else:
            console.print(
                f"{event.id:>6}  {event.at}  {event.type:<26} {event.target}  by {event.actor}",
                highlight=False,
            )
