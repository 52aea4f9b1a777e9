"""modelplane: data, training, registry and serving in one self-hosted tool.

import modelplane
mp = modelplane.Local()                       # MODELPLANE_HOME or ~/.modelplane
mp.datasets.add("digits", source="builtin:digits")
run = mp.train(data="digits", model="mlp")

c = modelplane.Client("http://127.0.0.1:8000", api_key="mp_...")   # the same surface against `modelplane up`
"""

from __future__ import annotations

import os
from typing import Any

# ONNX Runtime 1.29+ sends usage telemetry to Microsoft from Linux and macOS by default, and keeps a device
# id and an event cache under ~/.cache/Microsoft. A self-hosted platform sends nothing anywhere unasked:
# off for this process and its children, unless the user set the variable (ORT_DISABLE_TELEMETRY=0 opts in).
# It takes effect only if set before onnxruntime is imported; modelplane imports it lazily, after this.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
__all__ = ["Client", "Local", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import modelplane` stays cheap (no torch) for the CLI's --help and for clients.
    if name == "Local":
        from modelplane.local import Local

        return Local
    if name == "Client":
        from modelplane.client import Client

        return Client
    raise AttributeError(name)
