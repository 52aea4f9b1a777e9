"""The Docker build context of a package: the modelplane code itself, pinned requirements, a Dockerfile.

modelplane is not on PyPI, so the context carries a copy of the installed `modelplane` package directory
(pure Python) and `requirements.txt` pins every runtime dependency at the version installed here
(importlib.metadata), so the image runs the code and libraries that made and checked the package. torch
(by far the largest dependency) is left out when every version is served by ONNX Runtime or by
scikit-learn: the serving path imports it only to load a torch model natively or as TorchScript."""

from __future__ import annotations

import re
import shutil
from importlib import metadata
from pathlib import Path

import modelplane
from modelplane.errors import Misconfigured

APP_DIR = "app"  # the copied code, on PYTHONPATH in the image
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?")
# The extra index for torch's CPU wheels: pypi's default torch wheel pulls CUDA libraries (gigabytes).
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def requirements(*, needs_torch: bool) -> list[str]:
    """modelplane's runtime requirements (no extras), each pinned to the installed version."""
    declared = metadata.requires("modelplane") or []
    pinned: list[str] = []
    for line in declared:
        if ";" in line:  # an extra's requirement (postgres, ray, dev): not needed to serve
            continue
        found = _NAME.match(line)
        if found is None:
            raise Misconfigured(f"cannot read modelplane's requirement {line!r}; reinstall modelplane")
        name, extras = found.group(1), found.group(2) or ""
        if name.lower() == "torch" and not needs_torch:
            continue
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            raise Misconfigured(
                f"modelplane requires {name}, which is not installed here; reinstall modelplane"
            ) from None
        pinned.append(f"{name}{extras}=={version.split('+')[0]}")
    return pinned


def copy_code(context: Path) -> Path:
    """The running modelplane package, without caches, into `context/app/modelplane`."""
    source = Path(modelplane.__file__).resolve().parent
    target = context / APP_DIR / "modelplane"
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def dockerfile(*, needs_torch: bool) -> str:
    """A slim image that serves /package as a non-root user, health-checked on V2 readiness."""
    index = f" --extra-index-url {TORCH_CPU_INDEX}" if needs_torch else ""
    torch_note = (
        "torch included: a version is served natively or as TorchScript"
        if needs_torch
        else ("no torch: every version is served by ONNX Runtime or scikit-learn")
    )
    return f"""\
# syntax=docker/dockerfile:1
# Made by `modelplane package`; {torch_note}.
ARG PYTHON_VERSION=3.12
FROM python:${{PYTHON_VERSION}}-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    PYTHONPATH=/opt/modelplane
RUN useradd --create-home --uid 10001 modelplane
COPY requirements.txt /opt/modelplane/requirements.txt
RUN pip install{index} -r /opt/modelplane/requirements.txt
COPY {APP_DIR}/ /opt/modelplane/
COPY modelplane-package.json /package/
COPY versions/ /package/versions/

USER modelplane
WORKDIR /home/modelplane
EXPOSE 8000 8001
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD python -c \
    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/v2/health/ready', timeout=2)"
ENTRYPOINT ["python", "-m", "modelplane.cli.main"]
CMD ["serve", "--from", "/package", "--host", "0.0.0.0", "--port", "8000", "--grpc-port", "8001"]
"""


DOCKERIGNORE = "k8s/\n**/__pycache__\n"
