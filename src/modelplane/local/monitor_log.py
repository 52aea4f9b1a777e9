"""The prediction log in-process (you hold the database and the files: you read every deployment's)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from modelplane.store import Store

if TYPE_CHECKING:
    import pyarrow as pa


class Predictions:
    def __init__(self, store: Store) -> None:
        self._store = store

    def read(
        self,
        deployment: str,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = 1000,
    ) -> pa.Table:
        from modelplane.monitoring.log_query import read_predictions

        return read_predictions(self._store, deployment, since=since, until=until, limit=limit)
