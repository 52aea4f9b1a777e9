"""The Overview: deployments the viewer may see with live figures, running jobs with progress (jobs:read)
and the newest audit entries (audit:read)."""

from __future__ import annotations

from sqlalchemy import update

from modelplane.console.live import LiveSampler
from modelplane.jobs.queue import enqueue
from modelplane.store.orm import Deployment, Job
from tests.console.conftest import Console


def _deploy(console: Console, *names: str) -> None:
    """Deployment rows as the store holds them (the pages read rows; serving them needs no model here)."""
    with console.store.db.session() as db:
        for name in names:
            db.add(Deployment(name=name, spec={"model": f"{name}-mlp@1"}, created_by="test"))


def _running_job(console: Console, done: int, total: int) -> str:
    job = enqueue(console.store, "train", {}, by="test", total=total, unit="epochs")
    with console.store.db.session() as db:
        db.execute(update(Job).where(Job.id == job.id).values(state="running", progress_done=done))
    return job.id


def test_an_admin_sees_deployments_running_jobs_and_recent_audit(console: Console) -> None:
    _deploy(console, "alpha", "beta")
    job_id = _running_job(console, 3, 10)
    _running_job(console, 0, 5)
    now = [1_000_000.0]
    console.state.live = LiveSampler(console.metrics, clock=lambda: now[0])
    client = console.signed_in()
    client.get("/ui/")  # the sampler's first sample
    for _ in range(4):
        console.metrics.observe_request("alpha", "1", "rest", 200, 0.003, 1)
    now[0] += 2.0
    page = client.get("/ui/")
    assert page.status_code == 200 and "<h1>Overview</h1>" in page.text
    assert 'data-deployment="alpha"' in page.text and 'data-deployment="beta"' in page.text
    alpha = page.text.split('data-deployment="alpha"')[1].split("</tr>")[0]
    assert 'data-live="rps">2.0<' in alpha and 'data-live="error_rate">0.0%<' in alpha
    jobs = page.text.split('id="overview-jobs"')[1].split("</section>")[0]
    assert job_id in jobs and 'style="width: 30.0%"' in jobs and "3 / 10 epochs" in jobs
    assert '<span class="badge">2</span>' in jobs
    audit = page.text.split('id="overview-audit"')[1].split("</section>")[0]
    assert "console.signin" in audit and "job.submitted" in audit


def test_a_consumer_sees_its_own_deployments_and_no_jobs_or_audit(console: Console) -> None:
    _deploy(console, "alpha", "beta")
    _running_job(console, 1, 2)
    page = console.signed_in(console.key("consumer", "alpha")).get("/ui/")
    assert page.status_code == 200
    assert 'data-deployment="alpha"' in page.text and 'data-deployment="beta"' not in page.text
    assert 'id="overview-jobs"' not in page.text and 'id="overview-audit"' not in page.text
    assert "Alerts</th>" not in page.text


def test_a_developer_sees_jobs_but_the_audit_needs_its_role(console: Console) -> None:
    page = console.signed_in(console.key("developer")).get("/ui/")
    assert 'id="overview-jobs"' in page.text and "No job is running" in page.text
    assert ('id="overview-audit"' in page.text) == ("audit:read" in _actions("developer"))
    assert 'id="no-deployments"' in page.text


def _actions(role: str) -> frozenset[str]:
    from modelplane.security.roles import PERMISSIONS, Role

    return frozenset(PERMISSIONS[Role(role)])
