"""Inference runtimes behind one prediction contract, and the adapters that pick one per deployment.

Below serving, training, evaluation and compression, which all predict through it. `base` holds the
contract every runtime keeps; `adapters` registers how each runtime serves a stored version. Nothing here
imports torch, scikit-learn or onnxruntime until a runtime of theirs is built.
"""
