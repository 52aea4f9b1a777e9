"""What a gc pass freed: light (no database), so the HTTP client rebuilds it from JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class GcCategory:
    name: str
    items: int
    bytes: int


@dataclass(frozen=True)
class GcReport:
    """What a gc pass freed (or, `dry_run`, would free), per category; `retired`: versions that retention
    policies retired first (none in a dry run, which changes nothing)."""

    dry_run: bool
    categories: list[GcCategory] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total_bytes(self) -> int:
        return sum(c.bytes for c in self.categories)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
