"""A small model file of the kind users bring: an iris classifier saved with skops."""

from __future__ import annotations

from pathlib import Path


def skops_classifier(tmp_path: Path) -> Path:
    import skops.io as sio
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True)
    path = tmp_path / "iris.skops"
    sio.dump(LogisticRegression(max_iter=300).fit(features, labels), path)
    return path
