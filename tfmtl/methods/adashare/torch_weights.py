"""Fills our AdaShare model from the reference's released PyTorch snapshots.

The reference (github.com/sunxm2357/AdaShare) saves one file per snapshot,
`<label>_model.pth.tar` (`envs/base_env.py`, `save`): a dict with the
state dict of every network under its name (one network, `"mtl-net"`, an
`MTL2` of `models/deeplab_resnet.py`), every optimizer's state dict under
its name, `"iter"` and (`envs/blockdrop_env.py`) `"temp"`. `test.py` loads
`retrain<exp:03d>_policyIter<policy_iter>_best_model.pth.tar`. The sampled
policy of a retrained architecture is a separate pickle,
`policyIter<policy_iter>_rs<seed:04d>.pickle` (`save_policy`):
`{"task<i>_policy": tensor [L, 2]}`, column 0 = execute (`x = fx * p[t, 0]
+ residual * p[t, 1]` in `Deeplab_ResNet_Backbone.forward`).

Name map of `MTL2` (written from `models/deeplab_resnet.py` and
`models/base.py`), tasks numbered from 1 in the reference's task order:

* `backbone.conv1` / `backbone.bn1`: our stem's convolution and norm;
* `backbone.blocks.<s>.<i>.conv<j>` / `.bn<j>`: block `i` of stage `s`
  (0-based), our `stage<s+1>_block<i+1>` residual convolutions / norms in
  order (`BasicBlock`: 2, `Bottleneck`: 3);
* `backbone.ds.<s>.0` / `backbone.ds.<s>.1`: the projection shortcut of the
  first block of stage `s` (absent for ResNet-18/34 stage 0);
* `task<t>_fc1_c<j>.conv<1,2,3>` (weight and bias): branch `j` (rates 6,
  12, 18, 24) of task `t`'s `ASPPHead` (`Classification_Module`);
* `task<t>_logits` `[L, 2]`: row `t - 1` of `AdaShare.policy_logits`
  (column 0 execute, as ours).

Convolutions go from OIHW to HWIO; a `BatchNorm2d`'s `weight`, `bias`,
`running_mean`, `running_var` become `gamma`, `beta`, `moving_mean`,
`moving_variance` (`num_batches_tracked` is not needed).
"""

import keras
import numpy as np

from tfmtl.models.state_dict_taker import StateDictTaker

NETWORK = "mtl-net"
_BN = (("weight", "gamma"), ("bias", "beta"))
_BN += (("running_mean", "moving_mean"), ("running_var", "moving_variance"))


def adashare_state_dict(checkpoint):
    """The `MTL2` state dict inside a reference snapshot.

    Args:
        checkpoint: `{name: array}` of a whole `<label>_model.pth.tar`, as
            `tfmtl.models.checkpoint_files.read_checkpoint` returns it
            (nested dicts flattened with `.`: `"mtl-net.backbone.conv1.weight"`,
            optimizer states, `"iter"`), or already the network's state
            dict. A `module.` prefix (a saved `nn.DataParallel`) is removed.

    Returns:
        `{name: array}` with `MTL2`'s own names (`"backbone.conv1.weight"`).
    """
    state = dict(checkpoint)
    prefix = NETWORK + "."
    if any(k.startswith(prefix) for k in state):
        state = {
            k[len(prefix) :]: v
            for k, v in state.items()
            if k.startswith(prefix)
        }
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def adashare_policy(policy, tasks):
    """Our fixed policy `{task: 0/1 per block}` from the reference's pickle.

    Args:
        policy: `{"task<i>_policy": array}` (the arrays of
            `policy<label>.pickle`), each `[L, 2]` one-hot rows (column 0
            execute) or `[L]` 0/1 execute decisions.
        tasks: our task names, in the reference's task order.

    Returns:
        `{task: tuple of ints}` for `AdaShare(policy=...)`.
    """
    out = {}
    for index, task in enumerate(tasks):
        key = f"task{index + 1}_policy"
        if key not in policy:
            raise ValueError(f"The policy has no {key!r} (task {task!r}).")
        value = np.asarray(policy[key])
        if value.ndim == 2 and value.shape[1] == 2:
            value = value[:, 0]
        if value.ndim != 1 or not np.isin(value, (0, 1)).all():
            raise ValueError(
                f"{key!r} must be 0/1 rows [L, 2] or [L]; got shape "
                f"{value.shape}."
            )
        out[task] = tuple(int(v) for v in value)
    return out


def _convs(layers):
    return [x for x in layers if isinstance(x, keras.layers.Conv2D)]


def _norms(layers):
    return [x for x in layers if hasattr(x, "moving_mean")]


def adashare_layers(model):
    """`[(reference module name, our layer)]` of a built AdaShare model.

    Args:
        model: a built `MultiTaskModel` whose sharing is `AdaShare` over a
            `ResNet` (ImageNet stem) and whose heads are `ASPPHead`s.

    Returns:
        List of pairs; each layer is a `Conv2D` or a batch norm.
    """
    backbone = model.sharing.backbone
    if getattr(backbone, "stem_type", None) != "imagenet":
        raise ValueError("AdaShare checkpoints need the 'imagenet' stem.")
    stem = backbone.stem.layers
    out = [("backbone.conv1", _convs(stem)[0])]
    out.append(("backbone.bn1", _norms(stem)[0]))
    start = 0
    for stage, end in enumerate(backbone.stage_ends):
        for index, block in enumerate(backbone.blocks[start : end + 1]):
            name = f"backbone.blocks.{stage}.{index}"
            convs, norms = (
                _convs(block.residual_layers),
                _norms(block.residual_layers),
            )
            for j, (conv, norm) in enumerate(zip(convs, norms)):
                out += [
                    (f"{name}.conv{j + 1}", conv),
                    (f"{name}.bn{j + 1}", norm),
                ]
            if block.shortcut_layers:
                out.append(
                    (f"backbone.ds.{stage}.0", _convs(block.shortcut_layers)[0])
                )
                out.append(
                    (f"backbone.ds.{stage}.1", _norms(block.shortcut_layers)[0])
                )
        start = end + 1
    for t, task in enumerate(model.sharing.tasks):
        head = model.heads[task]
        if not hasattr(head, "branches"):
            raise ValueError(f"The head of {task!r} is not an ASPPHead.")
        for j, branch in enumerate(head.branches):
            for k, conv in enumerate(_convs(branch)):
                out.append((f"task{t + 1}_fc1_c{j}.conv{k + 1}", conv))
    return out


def _assign(take, name, layer, flip_input=False):
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw, cin, cout = layer.kernel.shape
        kernel = take(f"{name}.weight", (cout, cin, kh, kw))
        kernel = kernel.transpose(2, 3, 1, 0)
        layer.kernel.assign(kernel[:, :, ::-1] if flip_input else kernel)
        if layer.use_bias:
            layer.bias.assign(take(f"{name}.bias", (cout,)))
        return
    size = (int(layer.moving_mean.shape[0]),)
    for theirs, ours in _BN:
        getattr(layer, ours).assign(take(f"{name}.{theirs}", size))


def load_adashare(model, state_dict, channel_order="bgr", strict=True):
    """Assigns a reference `MTL2` state dict to a built AdaShare model.

    With learned policies (`AdaShare(policy=None)`) the `task<i>_logits`
    fill `policy_logits` and the curriculum is set to all blocks
    (`num_train_layers = L`, as the reference's `test.py`). With a fixed
    policy (retrained architecture; pass `adashare_policy(...)` to
    `AdaShare`) the logits are not used.

    Args:
        model: built `MultiTaskModel` (AdaShare sharing, `ASPPHead` heads
            with `hidden_channels=1024`), tasks in the reference's order.
        state_dict: `{name: array}`: a snapshot or `MTL2`'s state dict (see
            `adashare_state_dict`).
        channel_order: `"bgr"` (the reference's input: `cv2.imread`
            order, 0-255 minus the BGR mean (104.008, 116.669, 122.679) of
            `dataloaders/nyu_v2_dataloader.py`) reverses `conv1`'s input
            channels, so our model takes the same values in RGB order;
            `"rgb"` keeps the file's order (inputs fed as the reference's).
        strict: raise on entries nothing used (other than
            `num_batches_tracked` and, with a fixed policy, the logits).

    Raises:
        ValueError: naming the first missing, mis-shaped or unused key.
    """
    if channel_order not in ("rgb", "bgr"):
        raise ValueError(
            f"channel_order must be 'rgb' or 'bgr', not {channel_order!r}."
        )
    state = adashare_state_dict(state_dict)
    take = StateDictTaker(state, "AdaShare")
    for name, layer in adashare_layers(model):
        flip = name == "backbone.conv1" and channel_order == "bgr"
        _assign(take, name, layer, flip)
    sharing = model.sharing
    keys = [f"task{t + 1}_logits" for t in range(len(sharing.tasks))]
    if sharing.learns_policy:
        shape = (sharing.num_blocks, 2)
        logits = np.stack([take(key, shape) for key in keys])
        sharing.policy_logits.assign(logits)
        sharing.num_train_layers.assign(sharing.num_blocks)
    else:
        take.used.update(keys)
    unused = [
        k
        for k in state
        if k not in take.used and not k.endswith("num_batches_tracked")
    ]
    if strict and unused:
        raise ValueError(
            f"The AdaShare state dict has {len(unused)} entries our model "
            f"does not use, the first {unused[0]!r} (other tasks, depth or "
            "backbone?)."
        )
