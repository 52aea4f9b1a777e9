"""Every template and asset the console serves ships in the wheel: a file no package-data pattern names
would work from a checkout and be missing after `pip install modelplane`."""

from __future__ import annotations

from pathlib import Path

import tomllib

import modelplane.console

ROOT = Path(__file__).resolve().parents[2]


def test_every_console_file_is_package_data() -> None:
    package = Path(modelplane.console.__file__).parent
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = [p for p in patterns["modelplane"] if p.startswith("console/")]
    files = [
        path.relative_to(package.parent)
        for path in package.rglob("*")
        if path.is_file() and path.suffix not in (".py", ".pyc")
    ]
    assert files
    missing = [
        str(f)
        for f in files
        if not any(f.match(pattern) and len(f.parts) == len(Path(pattern).parts) for pattern in shipped)
    ]
    assert not missing, f"add these to [tool.setuptools.package-data] in pyproject.toml: {missing}"
