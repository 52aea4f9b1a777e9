"""ONNX Runtime's usage telemetry stays off in a modelplane process unless the user asks for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.serving.fakes import tiny_classifier_onnx

CHILD = """
import os, sys
import numpy as np
import modelplane
from modelplane.runtimes.onnx_runtime import OnnxRuntime
runtime = OnnxRuntime(sys.argv[1], threads=1)
runtime.predict(np.zeros((2, runtime.input_shape[0]), np.float32))
print(os.environ["ORT_DISABLE_TELEMETRY"])
"""


def serve_once(model: Path, home: Path, **env: str) -> str:
    """Load and run a model in a fresh process whose home is `home`; returns the variable it ran with."""
    child_env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    child_env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), **env)
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(model)], env=child_env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_onnx_runtime_sends_nothing_and_keeps_no_device_id(tmp_path: Path) -> None:
    model = tiny_classifier_onnx(tmp_path / "tiny.onnx")
    home = tmp_path / "home"
    home.mkdir()
    assert serve_once(model, home) == "1"
    # ONNX Runtime's telemetry keeps its device id and event cache here when it is on.
    assert not (home / ".cache" / "Microsoft").exists()


def test_a_users_own_choice_is_kept(tmp_path: Path) -> None:
    model = tiny_classifier_onnx(tmp_path / "tiny.onnx")
    home = tmp_path / "home"
    home.mkdir()
    assert serve_once(model, home, ORT_DISABLE_TELEMETRY="0") == "0"
