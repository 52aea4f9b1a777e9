"""`name[@version|@alias]` references, shared by datasets and models."""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelplane.errors import Invalid

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def check_name(name: str, what: str) -> str:
    if not NAME_PATTERN.match(name):
        raise Invalid(
            f"{what} name {name!r} is not valid; use letters, digits, '.', '_' or '-' "
            "(starting with a letter or digit, at most 200 characters)"
        )
    return name


@dataclass(frozen=True)
class Ref:
    """`name` alone means the latest version; `selector` is a version number or an alias name."""

    name: str
    selector: str | None = None

    @classmethod
    def parse(cls, text: str, what: str) -> Ref:
        name, _, selector = text.partition("@")
        check_name(name, what)
        if "@" in text and not selector:
            raise Invalid(f"{what} reference {text!r} ends with '@'; write NAME@VERSION or NAME@ALIAS")
        return cls(name, selector or None)

    @property
    def version(self) -> int | None:
        return int(self.selector) if self.selector is not None and self.selector.isdigit() else None

    def __str__(self) -> str:
        return f"{self.name}@{self.selector}" if self.selector else self.name
