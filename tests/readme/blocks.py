"""README.md -> its fenced blocks in order, with their line numbers and the `readme-test` marker before each.

The markers and conventions are documented at the top of README.md's source; this module enforces them so a
typo in a marker fails loudly instead of silently running (or skipping) a block."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
MARKERS = {"skip", "server", "ray"}
SHELL = {"bash", "sh", "shell", "console"}
MARKER = re.compile(r"^<!--\s*readme-test:\s*(\S+)\s*-->\s*$")
FENCE = re.compile(r"^```(\S*)\s*$")
FILE_NAME = re.compile(r"^#\s*([\w.-]+\.\w+)\s*$")


@dataclass(frozen=True)
class Command:
    """One shell command (continuation lines joined) and the README line it starts on."""

    line: int
    text: str


@dataclass(frozen=True)
class Block:
    lang: str
    line: int  # the README line of the block's first content line
    lines: tuple[str, ...]
    marker: str | None

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"

    @property
    def file_name(self) -> str | None:
        """A non-code block whose first line is `# NAME.ext` is that file, as the reader would save it."""
        if self.lang in SHELL or self.lang == "python" or not self.lines:
            return None
        found = FILE_NAME.match(self.lines[0])
        return found.group(1) if found else None

    def commands(self) -> list[Command]:
        """The block's shell commands: continued lines (`\\`) together, blank and comment lines left out."""
        commands: list[Command] = []
        pending: list[str] = []
        start = 0
        for offset, raw in enumerate(self.lines):
            if not pending:
                if not raw.strip() or raw.lstrip().startswith("#"):
                    continue
                start = self.line + offset
            pending.append(raw)
            if raw.rstrip().endswith("\\"):
                continue  # bash joins the next line to it, as in the reader's terminal
            commands.append(Command(start, "\n".join(pending)))
            pending = []
        if pending:
            raise ValueError(f"line {start}: a command ends in a line continuation")
        return commands


def read_blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, in order; a marker applies to the next block only, and must sit
    on the nearest non-blank line before its opening fence."""
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    marker: tuple[int, str] | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        found = MARKER.match(line.strip())
        if found:
            if found.group(1) not in MARKERS:
                raise ValueError(f"{path.name}:{index + 1}: unknown readme-test marker {found.group(1)!r}")
            marker = (index + 1, found.group(1))
        elif (fence := FENCE.match(line)) is not None:
            end = index + 1
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            if end == len(lines):
                raise ValueError(f"{path.name}:{index + 1}: the block is never closed")
            lang = fence.group(1).lower()
            blocks.append(Block(lang, index + 2, tuple(lines[index + 1 : end]), marker and marker[1]))
            marker = None
            index = end
        elif line.strip() and marker is not None:
            raise ValueError(f"{path.name}:{marker[0]}: a readme-test marker must come right before a block")
        index += 1
    if marker is not None:
        raise ValueError(f"{path.name}:{marker[0]}: a readme-test marker with no block after it")
    return blocks
