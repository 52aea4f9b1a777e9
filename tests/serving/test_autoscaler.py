"""The autoscaling rule, without processes: up when a need holds for the window, down after a cooldown
without need, from zero at once, always within MIN..MAX; and the bounds users give, checked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from modelplane.serving.replicas.autoscaler import ScalePolicy
from modelplane.serving.replicas.replicated import threads_per_replica
from modelplane.serving.scaling import AutoscaleSpec, ScalingSpec

SPEC = AutoscaleSpec(min_replicas=1, max_replicas=4, target_inflight=4, window_s=1.0, cooldown_s=5.0)


def run(policy: ScalePolicy, loads: list[tuple[float, float]], current: int) -> list[tuple[float, int, str]]:
    """Feed (time, load) samples; apply each decision; return (time, count, cause) of every change."""
    changes = []
    for now, load in loads:
        decision = policy.decide(now, load, current)
        if decision is not None:
            current, cause = decision
            policy.changed(now)
            changes.append((now, current, cause))
    return changes


def ticks(start: float, stop: float, load: float, step: float = 0.25) -> list[tuple[float, float]]:
    return [(start + i * step, load) for i in range(int((stop - start) / step))]


def test_a_spike_shorter_than_the_window_does_not_scale_up() -> None:
    policy = ScalePolicy(SPEC, now=0.0)
    loads = [*ticks(0, 2, 2), (2.0, 64), (2.25, 64), *ticks(2.5, 4, 2)]
    assert run(policy, loads, current=1) == []


def test_a_need_that_holds_scales_up_to_the_least_it_wanted_capped_at_max() -> None:
    policy = ScalePolicy(SPEC, now=0.0)
    changes = run(policy, ticks(0, 3, 64), current=1)
    assert changes == [(1.0, 4, "load")]  # 64 in flight / 4 per replica = 16, capped at MAX 4
    policy = ScalePolicy(SPEC, now=0.0)
    assert run(policy, ticks(0, 3, 10), current=1) == [(1.0, 3, "load")]


def test_scale_down_waits_for_a_cooldown_without_need_and_keeps_min() -> None:
    policy = ScalePolicy(SPEC, now=0.0)
    changes = run(policy, ticks(0, 4, 9) + ticks(4, 12, 0), current=3)
    # the need dropped at t=4; the cooldown (5 s) then passes with no sample wanting more than MIN
    assert changes == [(9.0, 1, "idle")]


def test_from_zero_a_waiting_request_starts_a_replica_at_once() -> None:
    spec = AutoscaleSpec(min_replicas=0, max_replicas=2, window_s=1.0, cooldown_s=2.0)
    policy = ScalePolicy(spec, now=0.0)
    changes = run(policy, ticks(0, 3, 0), current=1)
    assert changes == [(2.0, 0, "idle")]
    assert policy.decide(3.0, 1, 0) == (1, "load")


def test_bounds_are_checked() -> None:
    with pytest.raises(ValidationError, match="MIN \\(3\\) is above MAX \\(2\\)"):
        AutoscaleSpec(min_replicas=3, max_replicas=2)
    with pytest.raises(ValidationError, match="MAX is 0"):
        AutoscaleSpec(min_replicas=0, max_replicas=0)
    with pytest.raises(ValidationError, match="not both"):
        ScalingSpec(replicas=2, autoscale=AutoscaleSpec(min_replicas=1, max_replicas=2))


def test_replicas_share_the_cores_instead_of_each_taking_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("modelplane.serving.replicas.replicated.usable_cores", lambda: 8)
    assert threads_per_replica(ScalingSpec(replicas=4)) == 2
    assert threads_per_replica(ScalingSpec(autoscale=AutoscaleSpec(min_replicas=0, max_replicas=16))) == 1
    assert ScalingSpec().in_process and not ScalingSpec(replicas=2).in_process
