"""One module per console page (or group of pages), each with its own router and templates/<page>/."""

from __future__ import annotations

from modelplane.console.pages import (
    audit,
    datasets,
    deployments,
    jobs,
    keys,
    models,
    overview,
    runs,
    studies,
    usage,
)

ROUTERS = tuple(
    page.router for page in (overview, datasets, runs, models, deployments, jobs, studies, keys, usage, audit)
)
