"""The README extractor: blocks in order with lines, markers, files, commands; misplaced markers refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.readme.blocks import README, read_blocks

DOC = """<!--
A comment that mentions ```bash and `readme-test: skip` in passing is no marker.
-->
# title

<!-- readme-test: skip -->
```bash
make run
```

```bash
export A=1   # a comment
# a comment line

modelplane data add x \\
    --from y.csv
```

```yaml
# space.yaml
lr: [0.1, 0.01]
```

<!-- readme-test: server -->

```python
print("hi")
```
"""


def test_blocks_lines_markers_files_and_commands(tmp_path: Path) -> None:
    doc = tmp_path / "README.md"
    doc.write_text(DOC)
    skip, shell, space, python = read_blocks(doc)
    assert (skip.lang, skip.line, skip.marker) == ("bash", 8, "skip")
    assert (shell.marker, space.marker, python.marker) == (None, None, "server")
    assert [(c.line, c.text) for c in shell.commands()] == [
        (12, "export A=1   # a comment"),
        (15, "modelplane data add x \\\n    --from y.csv"),
    ]
    assert space.file_name == "space.yaml" and space.text == "# space.yaml\nlr: [0.1, 0.01]\n"
    assert shell.file_name is None and python.file_name is None
    assert (python.lang, python.line, python.text) == ("python", 27, 'print("hi")\n')


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<!-- readme-test: skipp -->\n```bash\nls\n```\n", "README.md:1: unknown readme-test marker"),
        ("<!-- readme-test: skip -->\ntext\n```bash\nls\n```\n", "README.md:1: a readme-test marker must"),
        ("text\n<!-- readme-test: skip -->\n", "README.md:2: a readme-test marker with no block after it"),
        ("```bash\nls\n", "README.md:1: the block is never closed"),
    ],
)
def test_misplaced_markers_are_refused(tmp_path: Path, text: str, message: str) -> None:
    doc = tmp_path / "README.md"
    doc.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_blocks(doc)


def test_the_readme_marks_only_what_cannot_run() -> None:
    """Skipped blocks are `make` targets only; one block stands for the server the test starts, one for the
    Ray head it provides (and holds nothing else)."""
    blocks = read_blocks(README)
    skipped = [c.text.split()[0] for b in blocks if b.marker == "skip" for c in b.commands()]
    assert skipped and set(skipped) == {"make"}
    assert [b.marker for b in blocks].count("server") == 1
    heads = [c.text.split()[:3] for b in blocks if b.marker == "ray" for c in b.commands()]
    assert heads == [["ray", "start", "--head"]]
