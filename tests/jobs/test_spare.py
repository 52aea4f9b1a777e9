"""A spare job process imports in a thread under the idle policy; those imports must start no thread,
which would inherit the policy and then starve whenever the machine is busy."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread scheduling is Linux's")
def test_the_spares_imports_start_no_thread() -> None:
    code = "import os, modelplane.jobs.executor; print(len(os.listdir('/proc/self/task')))"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "1"


@pytest.mark.parametrize("job_first", [True, False])
def test_imports_go_idle_only_while_no_job_is_waiting_for_them(
    monkeypatch: pytest.MonkeyPatch, job_first: bool
) -> None:
    """A job handed over before the import thread switched to the idle policy must not be overtaken by that
    switch: on a busy machine the imports it waits for would then starve."""
    from modelplane.jobs import spare

    monkeypatch.setattr(spare, "_JOB_ARRIVED", threading.Event())
    policies: list[str] = []
    monkeypatch.setattr(spare, "run_this_thread_under", policies.append)
    importer = threading.Thread(target=spare._import_in_the_background)
    if job_first:
        spare._hurry(importer)
    importer.start()
    importer.join()
    assert policies == ([] if job_first else ["SCHED_IDLE"])
