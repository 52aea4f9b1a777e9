"""`modelplane jobs ...`: background jobs (training, batch prediction): list, show, logs, cancel, download."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from modelplane.cli.context import platform
from modelplane.cli.output import cell, console, err_console, key_values, print_json, table

if TYPE_CHECKING:
    from modelplane.jobs.views import JobInfo, LogLine
    from modelplane.platform import JobsArea

app = typer.Typer(
    help="Background jobs (training, batch prediction), run by `modelplane up` or `modelplane worker`.",
    no_args_is_help=True,
)


def describe(job: JobInfo) -> str:
    """What the job works on, in a few words."""
    params = job.params
    if job.kind == "train":
        return f"run {params.get('run_id')} ({params.get('model')})"
    if job.kind == "batch":
        source, output = Path(params.get("input", "?")).name, Path(params.get("output", "?")).name
        return f"{params.get('deployment', {}).get('name')}: {source} -> {output}"
    return "-"


def progress_text(job: JobInfo, *, brief: bool = False) -> str:
    """`1,200/5,000 rows (24%), 310 rows/s, ETA 12s`, as far as the job knows (`brief`: no rate, ETA)."""
    p = job.progress
    text = f"{p.done:,}" + (f"/{p.total:,}" if p.total is not None else "") + f" {p.unit}".rstrip()
    if p.fraction is not None:
        text += f" ({p.fraction:.0%})"
    if brief:
        return text
    if p.rate:
        text += f", {p.rate:,.4g} {p.unit}/s"
    if p.eta_s is not None and not job.finished:
        text += f", ETA {p.eta_s:,.0f}s"
    return text


def _brief(value: Any) -> str:
    """A result value on one line: a mapping (e.g. test metrics) by its numbers and words only."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {cell(v)}" for k, v in value.items() if isinstance(v, (int, float, str)))
    return cell(value)


class JobBar:
    """A progress bar on stderr that follows a job: pass `update` as the `on_update` of a wait. It shows
    from the first update, so a request refused before it became a job shows no bar."""

    def __init__(self, title: str, *, quiet: bool = False) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=err_console,
            disable=quiet,
        )
        self.task = self.progress.add_task(title, total=None, detail="queued")
        self.started = False

    def __enter__(self) -> JobBar:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.started:
            self.progress.stop()

    def update(self, job: JobInfo) -> None:
        if not self.started:
            self.progress.start()
            self.started = True
        p = job.progress
        detail = job.state if job.state != "running" else progress_text(job).partition(", ")[2]
        self.progress.update(self.task, total=p.total, completed=p.done, detail=detail)


def announce_queued(job: JobInfo, *, as_json: bool) -> None:
    """Print a queued job (`--background`), starting a worker first when nothing would run it."""
    from modelplane.cli.worker import ensure_worker

    log = ensure_worker()
    if as_json:
        print_json(job.to_dict())
        return
    console.print(
        f"job [bold]{job.id}[/] queued ({job.kind}: {describe(job)}); follow it with "
        f"`modelplane jobs show {job.id}` or `modelplane jobs logs {job.id} --follow`"
    )
    if log is not None:
        console.print(f"started a worker for it (it exits when no job is left; log: {log})")


@app.command("list")
def list_(
    state: Annotated[str | None, typer.Option(help="queued, running, succeeded, failed or cancelled")] = None,
    kind: Annotated[str | None, typer.Option(help="train or batch")] = None,
    limit: Annotated[int, typer.Option(help="Newest N jobs")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Recent jobs, newest first."""
    jobs = platform().jobs.list(limit=limit, state=state, kind=kind)
    if as_json:
        print_json([job.to_dict() for job in jobs])
        return
    table(
        "jobs",
        ["job", "kind", "state", "progress", "what", "attempts", "created", "by"],
        [
            (
                j.id,
                j.kind,
                j.state,
                progress_text(j, brief=True),
                describe(j),
                j.attempts,
                j.created_at,
                j.created_by,
            )
            for j in jobs
        ],
    )


@app.command("show")
def show(
    job_id: Annotated[str, typer.Argument(help="Job id (a unique prefix is enough)")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """One job: state, progress (rate, ETA), attempts, result or error."""
    job = platform().jobs.get(job_id)
    if as_json:
        print_json(job.to_dict())
        return
    key_values(
        f"job {job.id}",
        [
            ("kind", job.kind),
            (
                "state",
                job.state + (" (cancel requested)" if job.cancel_requested and not job.finished else ""),
            ),
            ("what", describe(job)),
            ("progress", progress_text(job)),
            ("attempts", job.attempts),
            ("worker", job.worker),
            ("created", job.created_at),
            ("started", job.started_at),
            ("finished", job.finished_at),
            ("by", job.created_by),
            ("error", job.error),
            *((f"ray.{k}", _brief(v)) for k, v in job.cluster.items()),
            *((f"result.{k}", _brief(v)) for k, v in (job.result or {}).items()),
        ],
    )


@app.command("logs")
def logs(
    job_id: Annotated[str, typer.Argument(help="Job id (a unique prefix is enough)")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends")] = False,
) -> None:
    """A job's log: what each attempt did (epochs, committed chunks, errors)."""
    jobs = platform().jobs
    for line in jobs.follow(job_id) if follow else _all_lines(jobs, job_id):
        print(f"{line.at:%Y-%m-%d %H:%M:%S} {line.line}", flush=True)


def _all_lines(jobs: JobsArea, job_id: str) -> Iterator[LogLine]:
    after = 0
    while lines := jobs.logs(job_id, after=after, limit=1000):
        yield from lines
        after = lines[-1].seq


@app.command("cancel")
def cancel(job_id: Annotated[str, typer.Argument(help="Job id (a unique prefix is enough)")]) -> None:
    """Cancel a job: a queued one at once, a running one within a couple of seconds (its temp files go)."""
    job = platform().jobs.cancel(job_id)
    what = "cancelled" if job.finished else "asked to stop (it stops within a couple of seconds)"
    console.print(f"job {job.id} {what}")


@app.command("download")
def download(
    job_id: Annotated[str, typer.Argument(help="Job id of a finished batch")],
    path: Annotated[
        Path, typer.Argument(help="Where to write the predictions (.parquet or .csv as the job)")
    ],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace PATH if it exists")] = False,
) -> None:
    """Fetch the predictions of a batch job submitted with --background."""
    written = platform().jobs.download(job_id, path, overwrite=overwrite)
    console.print(f"wrote {written}")
