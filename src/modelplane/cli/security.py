"""`modelplane keys|usage|audit ...`: API keys, usage reports and the audit ledger."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from modelplane.cli.context import platform
from modelplane.cli.output import console, err_console, fail, key_values, print_json, table

if TYPE_CHECKING:
    from modelplane.store import Store

keys_app = typer.Typer(
    help="API keys: create (shown once), list, revoke; artifact keys: new-master, rotate-master, "
    "sign-unsigned.",
    no_args_is_help=True,
)
usage_app = typer.Typer(help="Inference usage per key, deployment and day.", no_args_is_help=True)
audit_app = typer.Typer(help="The tamper-evident audit ledger: log, verify, head.", no_args_is_help=True)


@keys_app.command("create")
def create(
    role: Annotated[str, typer.Option(help="admin, developer or consumer")],
    name: Annotated[str, typer.Option(help="Who the key is for, e.g. acme")],
    deployment: Annotated[
        list[str] | None,
        typer.Option("--deployment", "-d", help="Deployment a consumer key may predict on (repeatable)"),
    ] = None,
    rate: Annotated[str | None, typer.Option(help="Rate limit, e.g. 50/s, 600/m, 50/s,burst=10")] = None,
    quota: Annotated[
        str | None, typer.Option(help="Monthly quota, e.g. 100000/month or 1e6samples/month")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the key and its record as JSON")] = False,
) -> None:
    """Create a key; the key is printed once and cannot be shown again."""
    names = [part.strip() for text in deployment or [] for part in text.split(",") if part.strip()]
    created = platform().keys.create(role=role, name=name, deployments=names, rate=rate, quota=quota)
    if as_json:
        print_json({"key": created.key, **created.info.to_dict()})
    else:
        info = created.info
        console.print(f"created {info.role} key [bold]{info.id}[/] for {info.name}", highlight=False)
        print(created.key)
    err_console.print(
        "[yellow]store this key now: it is shown only once, and only its hash is kept[/]", highlight=False
    )


@keys_app.command("list")
def list_(
    revoked: Annotated[bool, typer.Option(help="Include revoked keys")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Every key with its role, scope and limits (never a secret)."""
    keys = platform().keys.list(include_revoked=revoked)
    if as_json:
        print_json([k.to_dict() for k in keys])
        return
    table(
        "API keys",
        ["id", "name", "role", "deployments", "rate", "quota", "created", "by", "revoked"],
        [
            (k.id, k.name, k.role, k.deployments, k.rate, k.quota, k.created_at, k.created_by, k.revoked_at)
            for k in keys
        ],
    )


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id (the hex part after mp_)")]) -> None:
    """Revoke a key; running servers refuse it within a second."""
    info = platform().keys.revoke(key_id)
    console.print(f"revoked key {info.id} ({info.name})", highlight=False)


def _local_store(command: str) -> Store:
    """The platform's own store: key material is read here and never sent over HTTP."""
    from modelplane.local import Local

    found = platform()
    if not isinstance(found, Local):
        fail(
            f"`modelplane keys {command}` works on the platform's files and keys, on the host that holds "
            "them; run it there without MODELPLANE_URL"
        )
    assert isinstance(found, Local)
    return found.store


@keys_app.command("new-master")
def new_master(
    out: Annotated[
        Path, typer.Option("--out", help="File to write the key to (base64; mode 0600, never overwritten)")
    ],
) -> None:
    """Make a random 256-bit master key for encrypting artifacts at rest."""
    from modelplane.security.master_key import MASTER_KEY_FILE_ENV, write_new_key_file

    key = write_new_key_file(out)
    console.print(f"wrote master key {key.key_id} to {out}", highlight=False)
    err_console.print(
        f"[yellow]back this file up: artifacts encrypted under it cannot be read without it.[/] Turn "
        f"encryption on with {MASTER_KEY_FILE_ENV}={out}",
        highlight=False,
    )


@keys_app.command("rotate-master")
def rotate_master(
    new_key_file: Annotated[
        Path, typer.Option("--new-key-file", help="The new master key (from new-master)")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Re-wrap every artifact's data key under a new master key (payloads untouched; one transaction)."""
    from modelplane.provenance import current_user
    from modelplane.security.artifact_keys import rotate_master as rotate
    from modelplane.security.master_key import MASTER_KEY_FILE_ENV, read_key_file

    done = rotate(_local_store("rotate-master"), read_key_file(new_key_file), by=current_user())
    if as_json:
        print_json(done.to_dict())
    else:
        key_values(
            "master key rotated",
            [
                ("from key", done.old_key_id),
                ("to key", done.new_key_id),
                ("data keys re-wrapped", done.rewrapped),
                ("artifacts under the new key", done.encrypted),
                ("plaintext artifacts (untouched)", done.plaintext),
            ],
        )
    err_console.print(
        f"[yellow]now point {MASTER_KEY_FILE_ENV} at {new_key_file} and restart servers and workers[/]; the "
        "old key no longer opens any artifact",
        highlight=False,
    )


@keys_app.command("sign-unsigned")
def sign_unsigned(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Sign every version registered before manifests were signed, once its files check out."""
    from modelplane.provenance import current_user
    from modelplane.registry.integrity import sign_unsigned as sign

    done = sign(_local_store("sign-unsigned"), by=current_user())
    if as_json:
        print_json(done.to_dict())
    else:
        rows: list[tuple[str, str, str | None]] = [(ref, "signed", None) for ref in done.signed]
        rows += [(ref, "refused", why) for ref, why in done.refused.items()]
        table("versions signed", ["version", "result", "why"], rows)
        if not rows:
            print("every version is signed already")
    if done.refused:
        fail(f"{len(done.refused)} versions were not signed: their files do not match their records", 3)


@usage_app.command("report")
def report(
    since: Annotated[
        str | None, typer.Option(help="First day, YYYY-MM-DD (UTC; default: the 1st of this month)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Last day, inclusive (default: today)")] = None,
    key: Annotated[str | None, typer.Option(help="Only this key id")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Requests, errors, refusals, samples and compute time per key, deployment and day (this month's
    unless --since says otherwise)."""
    if as_csv and as_json:
        fail("choose one of --csv and --json")
    from modelplane.security.metering import this_month

    rows = platform().usage.report(since, until, key=key)
    columns = ["key_id", "deployment", "day", "requests", "errors", "rejected", "samples", "compute_ms"]
    if as_json:
        print_json([r.to_dict() for r in rows])
    elif as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([r.to_dict()[c] for c in columns] for r in rows)
    else:
        table(
            f"usage since {since or this_month().isoformat()}",
            columns,
            [[r.to_dict()[c] for c in columns] for r in rows],
        )


@audit_app.command("log")
def audit_log(
    limit: Annotated[int, typer.Option(help="How many of the newest entries")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """The newest entries of the ledger, newest first."""
    entries = platform().audit.log(limit=limit)
    if as_json:
        print_json([e.to_dict() for e in entries])
        return
    table(
        "audit log",
        ["seq", "at", "actor", "action", "target", "details"],
        [
            (e.seq, e.at, e.actor, e.action, e.target, json.dumps(e.details) if e.details else None)
            for e in entries
        ],
    )


@audit_app.command("verify")
def audit_verify(as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False) -> None:
    """Recompute the hash chain: exit 0 when intact, 3 naming the first entry tampered with."""
    result = platform().audit.verify()
    if as_json:
        print_json(result.to_dict())
    elif result.ok:
        print(result.message)
    if not result.ok:
        fail(f"audit chain broken at entry {result.first_bad} ({result.problem}): {result.message}", 3)


@audit_app.command("head")
def audit_head() -> None:
    """The newest entry's seq and hash: note it somewhere else to detect a rewrite of the whole chain."""
    head = platform().audit.head()
    print(f"seq {head.seq} hash {head.hash}")
