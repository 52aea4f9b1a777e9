"""The prediction log on a server (read as Parquet: types and feature columns arrive intact)."""

from __future__ import annotations

import io
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelplane.client.http import Area, quoted

if TYPE_CHECKING:
    import pyarrow as pa


class Predictions(Area):
    def read(
        self,
        deployment: str,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        limit: int = 1000,
    ) -> pa.Table:
        import pyarrow.parquet as pq

        params: dict[str, Any] = {"limit": limit, "format": "parquet"}
        for key, value in (("since", since), ("until", until)):
            if value is not None:
                params[key] = value.isoformat() if isinstance(value, datetime) else value
        path = f"/api/v1/deployments/{quoted(deployment)}/predictions"
        response = self._http.call("GET", path, params=params)
        return pq.read_table(io.BytesIO(response.content))
