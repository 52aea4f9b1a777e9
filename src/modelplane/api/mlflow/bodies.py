"""A request body spooled to a temporary file as it arrives: artifact uploads are never held in memory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Request

from modelplane.errors import PayloadTooLarge

MAX_ARTIFACT_BYTES = 8 * 2**30


@asynccontextmanager
async def spooled(request: Request, limit: int = MAX_ARTIFACT_BYTES) -> AsyncIterator[Path]:
    """The body in a temp file, removed when the block ends; Invalid past `limit` bytes."""
    fd, name = tempfile.mkstemp(prefix="modelplane-artifact-")
    path = Path(name)
    try:
        size = 0
        with os.fdopen(fd, "wb") as fh:
            async for piece in request.stream():
                size += len(piece)
                if size > limit:
                    raise PayloadTooLarge(
                        f"artifact is over {limit} bytes; store large files outside the run"
                    )
                fh.write(piece)
        yield path
    finally:
        path.unlink(missing_ok=True)
