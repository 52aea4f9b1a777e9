"""`modelplane monitor ...`: what served models see and answer, and whether they are still right.

Each part of monitoring adds its commands from its own module (`register(app)`), so this file only says
which parts exist.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Model monitoring: the prediction log, feedback and live accuracy, drift, alerts, dashboards.",
    no_args_is_help=True,
)

from modelplane.cli import monitor_windows  # noqa: E402

monitor_windows.register(app)
from modelplane.cli import monitor_feedback  # noqa: E402

monitor_feedback.register(app)
from modelplane.cli import monitor_alerts  # noqa: E402

monitor_alerts.register(app)
from modelplane.cli import monitor_drift  # noqa: E402

monitor_drift.register(app)
from modelplane.cli import monitor_log  # noqa: E402

monitor_log.register(app)
