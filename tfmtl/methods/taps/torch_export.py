"""Exports a TAPS-trained ResNet as torchvision-layout state dicts.

For a `MultiTaskModel` with `TAPS` sharing over our `ResNet` (ImageNet
stem), names follow torchvision's `torchvision/models/resnet.py` (see
`tfmtl.models.backbones.torchvision_resnet`), kernels in OIHW:

* `base_state_dict`: the shared base kernels `w0` (`<conv>.weight`);
* `task_delta_state_dict(task)`: what the task adds: the delta of every
  convolution it tunes (score >= threshold; `<conv>.weight` holds the delta
  only), its batch norms (`weight`, `bias`, `running_mean`, `running_var`,
  `num_batches_tracked` 0) and its classifier as `fc` (a `ClassifierHead`
  without hidden layers);
* `task_state_dict(task)`: the task's whole network, `w0 + delta` where
  tuned: `torchvision.models.resnet34(num_classes=N).load_state_dict(...)`
  accepts it and computes the task's logits.

`export_torchvision` writes `base`, `task_<name>_delta` and `task_<name>`
files as `.pth` (loadable by `torch.load`, written without torch),
`.safetensors` or `.npz`.

Reference: Wallingford et al., "Task Adaptive Parameter Sharing for
Multi-Task Learning", CVPR 2022 (per-task storage: the tuned layers'
deltas only).
"""

import os

import numpy as np

from tfmtl.models import checkpoint_files
from tfmtl.models.backbones.torchvision_resnet import torchvision_layers
from tfmtl.models.heads.classifier_head import ClassifierHead


def _sharing(model):
    sharing = getattr(model, "sharing", None)
    if not hasattr(sharing, "gated_layers"):
        raise ValueError("The model does not use TAPS sharing.")
    return sharing


def _oihw(kernel):
    return np.asarray(kernel).transpose(3, 2, 0, 1).copy()


def _task_index(sharing, task):
    if task not in sharing.tasks:
        raise ValueError(f"Unknown task {task!r}; tasks: {sharing.tasks}.")
    return sharing.tasks.index(task)


def _convs(sharing):
    return [
        (name, layer)
        for name, layer in torchvision_layers(sharing.backbone)
        if hasattr(layer, "base_kernel")
    ]


def _norms(sharing, t):
    out = {}
    for name, layer in torchvision_layers(sharing.backbone):
        if hasattr(layer, "base_kernel"):
            continue
        norm = layer.norms[t] if hasattr(layer, "norms") else layer
        out[f"{name}.weight"] = np.asarray(norm.gamma)
        out[f"{name}.bias"] = np.asarray(norm.beta)
        out[f"{name}.running_mean"] = np.asarray(norm.moving_mean)
        out[f"{name}.running_var"] = np.asarray(norm.moving_variance)
        out[f"{name}.num_batches_tracked"] = np.array(0, np.int64)
    return out


def _fc(model, task):
    head = model.heads.get(task)
    if not isinstance(head, ClassifierHead) or head.hidden_units:
        raise ValueError(
            f"Task {task!r}: torchvision's fc needs a ClassifierHead without "
            "hidden layers; pass include_head=False."
        )
    return {
        "fc.weight": np.asarray(head.logits.kernel).T.copy(),
        "fc.bias": np.asarray(head.logits.bias),
    }


def base_state_dict(model):
    """`{<conv>.weight: w0}` of every gated convolution (OIHW)."""
    return {
        f"{name}.weight": _oihw(layer.base_kernel)
        for name, layer in _convs(_sharing(model))
    }


def task_delta_state_dict(model, task, include_head=True):
    """The task's deltas (tuned convolutions only), norms and `fc`."""
    sharing = _sharing(model)
    t = _task_index(sharing, task)
    out = {
        f"{name}.weight": _oihw(layer.deltas[t])
        for name, layer in _convs(sharing)
        if float(np.asarray(layer.scores[t])) >= layer.threshold
    }
    out.update(_norms(sharing, t))
    if include_head:
        out.update(_fc(model, task))
    return out


def task_state_dict(model, task, include_head=True):
    """The task's full torchvision state dict (`w0 + delta` where tuned)."""
    sharing = _sharing(model)
    t = _task_index(sharing, task)
    out = {
        f"{name}.weight": _oihw(layer.task_kernel(t))
        for name, layer in _convs(sharing)
    }
    out.update(_norms(sharing, t))
    if include_head:
        out.update(_fc(model, task))
    return out


def export_torchvision(model, directory, suffix=".pth", include_head=True):
    """Writes `base`, `task_<name>_delta` and `task_<name>` state dicts.

    Args:
        model: built `MultiTaskModel` with TAPS sharing over a `ResNet`.
        directory: destination (local or `gs://`).
        suffix: `.pth`, `.safetensors` or `.npz`.
        include_head: write each task's classifier as `fc`.

    Returns:
        `{file stem: path}` of the written files.
    """
    sharing = _sharing(model)
    files = {"base": base_state_dict(model)}
    for task in sharing.tasks:
        files[f"task_{task}_delta"] = task_delta_state_dict(
            model, task, include_head
        )
        files[f"task_{task}"] = task_state_dict(model, task, include_head)
    return {
        stem: checkpoint_files.write_checkpoint(
            os.path.join(directory, stem + suffix), arrays
        )
        for stem, arrays in files.items()
    }
