"""Fills our NDDR and MTL-NAS fusions from MTL-NAS PyTorch state dicts.

The branches use the VGG-16 map of `tfmtl.methods.mtl_nas.torch_weights`;
this module adds the fusion layers of MTL-NAS's `NDDRNet`
(`core/models/nddr_net.py`, `NDDR` of `core/models/common_layers.py`) and
`GeneralizedMTLNASNet` (`core/models/supernet.py`,
`SingleSidedAsymmetricNDDR`), written from those files.
"""

import numpy as np

from tfmtl.methods.mtl_nas.torch_weights import (
    VGGStateDictTaker,
    assign_norm,
    load_deeplab_vgg16,
    strip_prefix,
)


def _model_state(state_dict):
    """The model of a `ckpt-<step>.pth` (`tools/train_nas.py`)."""
    state = dict(state_dict)
    if any(k.startswith("model_state_dict.") for k in state):
        state = strip_prefix(state, "model_state_dict.")
    if state and all(k.startswith("module.") for k in state):
        state = strip_prefix(state, "module.")
    return state


def _branches(model, state):
    used = set()
    sharing = model.sharing
    for t, (task, branch) in enumerate(zip(sharing.tasks, sharing.branches)):
        used |= load_deeplab_vgg16(
            branch,
            state,
            head=model.heads[task],
            prefix=f"net{t + 1}.",
            strict=False,
        )
    return used


def _check_unused(state, used, strict, what):
    unused = [
        k
        for k in state
        if k not in used and not k.endswith("num_batches_tracked")
    ]
    if strict and unused:
        raise ValueError(
            f"The {what} state dict has {len(unused)} entries our model "
            f"does not use, the first {unused[0]!r}."
        )


def _kernel(take, key, variable, blocks=None):
    cin, cout = variable.shape[2], variable.shape[3]
    value = take(key, (cout, cin, 1, 1)).transpose(2, 3, 1, 0)
    if blocks is not None:  # reorder the input-channel blocks
        size = cin // len(blocks)
        value = np.concatenate(
            [value[:, :, b * size : (b + 1) * size] for b in blocks], axis=2
        )
    variable.assign(value)


def load_nddr(model, state_dict, strict=True):
    """Fills an `NDDR` model from an MTL-NAS `NDDRNet` state dict.

    Name map: `net<t>.*` is task `t`'s `DeepLabLargeFOVBN` (branch and fc8,
    `load_deeplab_vgg16`); `nddrs.nddrs.<n>` is the NDDR layer after VGG
    stage `n` (0-4): `conv<t>` / `bn<t>` give task `t`'s fusion. The
    reference concatenates `[task 1, task 2]` for both tasks; our fusion
    takes its own task first, so task 2's kernel has its two input blocks
    swapped.

    Args:
        model: built `MultiTaskModel` with two-task `NDDR` sharing over
            `VGG16()` (the default fusion after each of the five pools,
            `fusion="nddr"`, no shortcut) and `DenseHead(num_layers=0)`
            heads, tasks in the reference's order.
        state_dict: `{name: array}` (a `ckpt-<step>.pth` is reduced to its
            `model_state_dict`).
        strict: raise on entries nothing used.

    Raises:
        ValueError: naming the first missing, mis-shaped or unused key.
    """
    state = _model_state(state_dict)
    sharing = model.sharing
    if len(sharing.tasks) != 2:
        raise ValueError("MTL-NAS's NDDRNet has two tasks.")
    used = _branches(model, state)
    take = VGGStateDictTaker(state)
    for n, layer in enumerate(sharing.nddr_layers):
        for t, fusion in enumerate(layer.fusions):
            name = f"nddrs.nddrs.{n}"
            order = [0, 1] if t == 0 else [1, 0]
            _kernel(take, f"{name}.conv{t + 1}.weight", fusion.kernel, order)
            assign_norm(take, f"{name}.bn{t + 1}", fusion.norm)
    _check_unused(state, used | take.used, strict, "NDDR")


def load_mtl_nas(model, state_dict, strict=True):
    """Fills an `MTLNAS` model from a `GeneralizedMTLNASNet` state dict.

    Name map (`core/models/supernet.py`, two tasks): `net<t>.*` is task
    `t`'s `DeepLabLargeFOVBN16` (branch and fc8 head, see
    `load_deeplab_vgg16`); `paths.net<t>_paths.<r>.conv` / `.bn` is the
    `SingleSidedAsymmetricNDDR` of searched block `r`, whose input is the
    own features then the other task's blocks `j` in ascending order (our
    `NDDRFusion` order); `net<t>_alphas[r, j]` `[13, 13]` is the logit of
    the edge from block `j` (our `alpha[t - 1, n]` of edge `(r, s, j)`);
    `path_costs` is not needed. A training checkpoint `ckpt-<step>.pth`
    (`tools/train_nas.py`: `{"model_state_dict": ..., optimizer, ...}`) is
    reduced to its model.

    Args:
        model: built `MultiTaskModel` with `MTLNAS` sharing over
            `VGG16(per_conv_blocks=True)` and `DenseHead(num_layers=0)`
            heads, two tasks in the reference's order.
        state_dict: `{name: array}`.
        strict: raise on entries nothing used.

    Raises:
        ValueError: naming the first missing, mis-shaped or unused key.
    """
    state = _model_state(state_dict)
    sharing = model.sharing
    used = _branches(model, state) | {"path_costs"}
    take = VGGStateDictTaker(state)
    blocks = list(sharing.searched_blocks)
    alpha = np.zeros(tuple(sharing.alpha.shape), np.float32)
    size = (len(blocks), len(blocks))
    for t in range(len(sharing.tasks)):
        logits = take(f"net{t + 1}_alphas", size)
        for n, (i, _, j) in enumerate(sharing.edges[t]):
            alpha[t, n] = logits[blocks.index(i), blocks.index(j)]
        for r in range(len(blocks)):
            fusion = sharing.fusions[t * len(blocks) + r]
            name = f"paths.net{t + 1}_paths.{r}"
            _kernel(take, f"{name}.conv.weight", fusion.kernel)
            assign_norm(take, f"{name}.bn", fusion.norm)
    sharing.alpha.assign(alpha)
    _check_unused(state, used | take.used, strict, "MTL-NAS")
