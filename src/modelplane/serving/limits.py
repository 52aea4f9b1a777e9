"""How large one request to a deployment may be: rows (`max_request_rows`) and, derived from them, bytes.

The body limit is what the largest allowed request needs as JSON, so the server never reads (and holds)
a body far larger than a request it would take: each tensor element gets `_JSON_BYTES_PER_ELEMENT` (a
float written in full precision with its separator and some pretty-printing), each table cell its
column's name (records repeat it per row) plus `_JSON_BYTES_PER_CELL`. A deployment may set its own
byte limit; the server's `max_body_bytes` caps both.
"""

from __future__ import annotations

import math

from modelplane.errors import PayloadTooLarge
from modelplane.serving.types import ModelMeta, TensorMeta

_JSON_BYTES_PER_ELEMENT = 32
_JSON_BYTES_PER_CELL = 64
_ENVELOPE_BYTES = 64 * 1024  # names, shapes, parameters around the data


def body_limit(inputs: tuple[TensorMeta, ...], named_columns: bool, max_rows: int) -> int:
    """Bytes a JSON body with `max_rows` rows of these inputs needs at most."""
    if named_columns:
        per_row = sum(len(t.name) + _JSON_BYTES_PER_CELL for t in inputs)
    else:
        per_row = sum(_JSON_BYTES_PER_ELEMENT * math.prod(max(1, d) for d in t.shape[1:]) for t in inputs)
    return _ENVELOPE_BYTES + max_rows * per_row


def check_rows(meta: ModelMeta, rows: int) -> None:
    """413 for a request over the deployment's row limit, before any quota or compute is spent on it."""
    if meta.max_rows is not None and rows > meta.max_rows:
        raise PayloadTooLarge(
            f"the request has {rows} rows but deployment {meta.name!r} takes at most {meta.max_rows} per "
            "request; split it into smaller requests, use `modelplane batch` for files, or redeploy with "
            "--max-request-rows"
        )
