"""How many copies of a deployment's model run, and when a new version is taken back.

`replicas: 1` with no autoscaling (the default) runs the model inside the server process, the fastest path
for one replica. More replicas, or autoscaling, run each copy in a replica process of its own behind the
server's batcher (see `serving.replicas`).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class AutoscaleSpec(BaseModel):
    """Like Knative's or Ray Serve's request-based autoscaling: replicas follow the requests in flight."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    min_replicas: int = Field(ge=0, le=256)
    max_replicas: int = Field(ge=1, le=256)
    target_inflight: float = Field(default=4.0, gt=0)  # requests queued or computing, per replica
    window_s: float = Field(default=2.0, gt=0, le=600)  # how long a need must hold before scaling up
    cooldown_s: float = Field(default=30.0, ge=0, le=86_400)  # no need for this long before scaling down

    @model_validator(mode="before")
    @classmethod
    def _max_given(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("max_replicas") == 0:
            raise ValueError("autoscale MAX is 0: a deployment needs at least one replica at most (MIN:MAX)")
        return data

    @model_validator(mode="after")
    def _ordered(self) -> AutoscaleSpec:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"autoscale MIN ({self.min_replicas}) is above MAX ({self.max_replicas}); write MIN:MAX "
                "with MIN <= MAX, e.g. 1:4"
            )
        return self


class ScalingSpec(BaseModel):
    """Fixed `replicas`, or `autoscale` between its bounds (not both). Frozen: part of what a hot swap
    compares to decide whether a loaded version can be kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    replicas: int = Field(default=1, ge=1, le=256)
    autoscale: AutoscaleSpec | None = None

    @model_validator(mode="after")
    def _one_mode(self) -> ScalingSpec:
        if self.autoscale is not None and self.replicas != 1:
            raise ValueError("give either a fixed number of replicas or autoscale MIN:MAX, not both")
        return self

    @property
    def in_process(self) -> bool:
        """One fixed replica: the model runs inside the server, without a replica process."""
        return self.autoscale is None and self.replicas == 1

    @property
    def most(self) -> int:
        return self.autoscale.max_replicas if self.autoscale else self.replicas

    @property
    def least(self) -> int:
        return self.autoscale.min_replicas if self.autoscale else self.replicas


class RolloutSpec(BaseModel):
    """When a newly served version is reverted to the one before it: it failed to load or warm up, or more
    than `max_error_share` of its first `check_requests` requests failed in the runtime (0: no check)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    check_requests: int = Field(default=100, ge=0, le=1_000_000)
    max_error_share: float = Field(default=0.1, ge=0, lt=1)
