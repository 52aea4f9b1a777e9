"""Jobs pages: the list and one job, kept live by polling JSON, and cancel (jobs:read / jobs:cancel)."""

from __future__ import annotations

from modelplane.jobs.context import JobContext
from modelplane.jobs.identity import WorkerIdentity
from modelplane.jobs.lease import Lease, claim
from modelplane.jobs.queue import enqueue, get_job
from modelplane.jobs.views import JobInfo
from modelplane.security.audit import log
from modelplane.store import Store
from tests.console.conftest import Console, csrf_of

ME = WorkerIdentity.current()


def queued(store: Store, total: int = 10) -> JobInfo:
    """A real queued job; 'compress' ends without anything to clean up, so it needs no model behind it."""
    return enqueue(store, "compress", {"model": "m@1"}, by="tester", total=total, unit="steps")


def running(store: Store, total: int = 10) -> tuple[JobInfo, JobContext]:
    """A job a worker holds, and the context its code reports progress through."""
    job = queued(store, total)
    lease: Lease | None = claim(store, ME, kinds=("compress",), only=[job.id])
    assert lease is not None
    return job, JobContext(store, lease, params=job.params, checkpoint={}, done=0, threads=1)


def test_the_list_shows_jobs_with_progress_and_filters(console: Console) -> None:
    job, ctx = running(console.store)
    ctx.progress(3, line="step 3")
    other = queued(console.store)
    client = console.signed_in()
    page = client.get("/ui/jobs")
    assert page.status_code == 200
    assert job.id in page.text and other.id in page.text and "3/10 steps" in page.text
    only_queued = client.get("/ui/jobs?state=queued")
    assert other.id in only_queued.text and job.id not in only_queued.text
    assert job.id not in client.get("/ui/jobs?kind=train").text


def test_live_jobs_follow_progress_between_polls(console: Console) -> None:
    job, ctx = running(console.store)
    client = console.signed_in()
    first = client.get(f"/ui/live/jobs?ids={job.id}").json()["jobs"][0]
    assert first["state"] == "running" and first["done"] == 0
    ctx.progress(6)
    second = client.get(f"/ui/live/jobs?ids={job.id}").json()["jobs"][0]
    assert second["done"] == 6 and second["progress_text"] == "6/10 steps" and second["fraction"] == 0.6


def test_the_job_page_tails_the_log_and_polls_new_lines(console: Console) -> None:
    job, ctx = running(console.store)
    for step in range(1, 251):
        ctx.log(f"line {step}")
    client = console.signed_in()
    page = client.get(f"/ui/jobs/{job.id}")
    assert page.status_code == 200
    # 252 lines (queued, attempt 1, then 250): the last 200 start at "line 51"
    assert "line 250" in page.text and ">line 51\n" in page.text and "line 50\n" not in page.text
    last = int(page.text.split("let after = ")[1].split(";")[0])
    ctx.progress(4, line="after the page opened")
    live = client.get(f"/ui/live/jobs/{job.id}/logs?after={last}").json()
    assert [line["line"] for line in live["lines"]] == ["after the page opened"]
    assert live["job"]["done"] == 4


def test_an_unknown_job_is_a_404_page(console: Console) -> None:
    client = console.signed_in()
    answer = client.get("/ui/jobs/nosuchjob")
    assert answer.status_code == 404 and "not found" in answer.text
    assert client.get("/ui/live/jobs/nosuchjob/logs").status_code == 404


def test_cancel_goes_through_the_queue_and_is_audited(console: Console) -> None:
    job = queued(console.store)
    client = console.signed_in()
    csrf = csrf_of(client, f"/ui/jobs/{job.id}")
    answer = client.post(f"/ui/jobs/{job.id}/cancel", data={"csrf": csrf})
    assert answer.status_code == 303 and "cancelled" in answer.headers["location"]
    assert get_job(console.store, job.id).state == "cancelled"
    entry = log(console.store, limit=1)[0]
    assert (entry.action, entry.target, entry.actor) == (
        "job.cancelled",
        job.id,
        console.admin_key.split("_")[1],
    )
    again = client.post(
        f"/ui/jobs/{job.id}/cancel",
        data={"csrf": csrf},
        headers={"referer": f"http://127.0.0.1/ui/jobs/{job.id}"},
    )
    assert answer.status_code == 303 and "already+cancelled" in again.headers["location"]


def test_cancelling_a_running_job_asks_its_worker_to_stop(console: Console) -> None:
    job, _ = running(console.store)
    client = console.signed_in(console.key("developer"))
    answer = client.post(f"/ui/jobs/{job.id}/cancel", data={"csrf": csrf_of(client)})
    assert answer.status_code == 303
    assert get_job(console.store, job.id).cancel_requested


def test_cancel_without_the_csrf_token_changes_nothing(console: Console) -> None:
    job = queued(console.store)
    client = console.signed_in()
    answer = client.post(f"/ui/jobs/{job.id}/cancel", data={})
    assert answer.status_code == 403 and "CSRF" in answer.text
    assert get_job(console.store, job.id).state == "queued"


def test_a_consumer_may_not_see_jobs(console: Console) -> None:
    job = queued(console.store)
    client = console.signed_in(console.key("consumer", "iris"))
    page = client.get("/ui/jobs")
    assert page.status_code == 403 and "jobs:read" in page.text
    assert client.get(f"/ui/jobs/{job.id}").status_code == 403
    assert client.get(f"/ui/live/jobs?ids={job.id}").json()["error"].startswith("key ")
    answer = client.post(f"/ui/jobs/{job.id}/cancel", data={"csrf": csrf_of(client)})
    assert answer.status_code == 403
    assert get_job(console.store, job.id).state == "queued"
