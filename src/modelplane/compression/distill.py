"""Knowledge distillation (Hinton et al. 2015): a small student learns the teacher's softened outputs.

The loss is ``alpha * T^2 * KL(teacher_T || student_T) + (1 - alpha) * CE(student, labels)`` where ``_T``
means softmax(logits / T); T^2 keeps the soft term's gradients on the scale of the hard one. For
regression the soft target is the teacher's prediction (MSE), and T does not apply. The teacher predicts
on the very batch the student sees, so any teacher works: a torch module gives its logits, any other
runtime (ONNX, int8, scikit-learn) its probabilities, whose logs are logits up to a constant per row,
which softmax ignores.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from modelplane.data.catalog import DatasetVersionInfo
from modelplane.errors import Invalid
from modelplane.models.frameworks import DISTILL_STUDENT, default_spec, frameworks_with, kinds_of
from modelplane.models.spec import BaseSpec
from modelplane.registry.views import ModelVersionInfo
from modelplane.training.torch_trainer import TrainLoss

# The field a `KIND:SIZES` shorthand sets.
WIDTH_FIELDS = {"mlp": "hidden", "cnn": "channels", "lstm": "hidden_size", "gru": "hidden_size"}
_FIXED = ("task", "input_shape", "num_outputs")
_MIN_PROBABILITY = 1e-7

Teacher = Callable[[torch.Tensor], torch.Tensor]


def student_spec(
    student: str | Mapping[str, Any], teacher: ModelVersionInfo, dataset: DatasetVersionInfo
) -> BaseSpec:
    """`mlp`, `mlp:64,32` (hidden), `cnn:8,16` (channels), `gru:32` (hidden_size), or a spec mapping.

    Task, input shape and outputs come from the teacher; a mapping that sets them differently is refused,
    since a student must read the teacher's inputs and predict its outputs.
    """
    fields = _shorthand(student) if isinstance(student, str) else dict(student)
    kind = fields.pop("kind", None)
    students = [k for f in frameworks_with(DISTILL_STUDENT) for k in kinds_of(f)]
    if kind not in students:
        raise Invalid(
            f"the student must be a torch model ({', '.join(students)}) to learn soft targets, got "
            f"kind {kind!r}; e.g. --distill mlp:64,32"
        )
    expected = {
        "task": teacher.task,
        "input_shape": teacher.input_shape,
        "num_outputs": teacher.spec["num_outputs"],
    }
    for name in _FIXED:
        given = fields.pop(name, expected[name])
        if given != expected[name]:
            raise Invalid(
                f"the student spec sets {name} to {given} but the teacher {teacher.ref} has "
                f"{expected[name]}; a student must read the teacher's inputs and predict its outputs: "
                f"remove {name} from the spec"
            )
    # The image view the teacher or the data declares, unless the spec gives its own.
    image_shape = None if "image_shape" in fields else teacher.spec.get("image_shape") or dataset.image_shape
    return default_spec(
        kind,
        task=teacher.task,  # type: ignore[arg-type]
        input_shape=teacher.input_shape,
        num_outputs=expected["num_outputs"],
        image_shape=image_shape,
        overrides=fields,
    )


def _shorthand(text: str) -> dict[str, Any]:
    kind, _, sizes = text.strip().partition(":")
    if kind not in WIDTH_FIELDS:
        raise Invalid(
            f"unknown student {text!r}; write KIND or KIND:SIZES with KIND one of {', '.join(WIDTH_FIELDS)} "
            "(e.g. mlp:64,32), or pass a spec file"
        )
    if not sizes:
        return {"kind": kind}
    try:
        widths = [int(s) for s in sizes.split(",")]
    except ValueError:
        raise Invalid(f"student sizes {sizes!r} are not comma-separated integers (e.g. mlp:64,32)") from None
    field = WIDTH_FIELDS[kind]
    if field == "hidden_size":
        if len(widths) != 1:
            raise Invalid(f"a {kind} student takes one hidden size (e.g. {kind}:32), got {sizes!r}")
        return {"kind": kind, field: widths[0]}
    return {"kind": kind, field: widths}


def check_settings(temperature: float, alpha: float) -> None:
    if not temperature > 0:
        raise Invalid(f"temperature must be > 0 (1 = the teacher's own probabilities), got {temperature:g}")
    if not 0.0 <= alpha <= 1.0:
        raise Invalid(f"alpha weighs the teacher against the labels and must be in [0, 1], got {alpha:g}")


def torch_teacher(module: torch.nn.Module) -> Teacher:
    """Logits of a torch teacher, on whichever device the batch lives."""
    module = module.eval()

    def logits(x: torch.Tensor) -> torch.Tensor:
        return module.to(x.device)(x)

    return logits


def runtime_teacher(runtime: Any, task: str) -> Teacher:
    """Log-probabilities (classification) or predictions of any runtime honouring the serving contract."""

    def outputs(x: torch.Tensor) -> torch.Tensor:
        out = runtime.predict(x.detach().cpu().numpy())
        if task == "classification":
            values = np.log(np.clip(out["probabilities"], _MIN_PROBABILITY, None))
        else:
            values = out["prediction"]
        return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32)).to(x.device)

    return outputs


def distillation_loss(teacher: Teacher, *, task: str, temperature: float, alpha: float) -> TrainLoss:
    """The trainer's loss for a student: soft targets from `teacher` on the same batch, plus labels."""

    def loss(out: torch.Tensor, target: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            taught = teacher(x)
        if task == "classification":
            soft = F.kl_div(
                F.log_softmax(out / temperature, dim=-1),
                F.log_softmax(taught / temperature, dim=-1),
                log_target=True,
                reduction="batchmean",
            ) * (temperature**2)
            hard = F.cross_entropy(out, target)
        else:
            soft = F.mse_loss(out, taught.reshape(out.shape))
            hard = F.mse_loss(out, target)
        return alpha * soft + (1.0 - alpha) * hard

    return loss
