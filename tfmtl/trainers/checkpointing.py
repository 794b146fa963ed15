"""The checkpoint layout of a run; no other module knows it.

A checkpoint holds `step` and a `state` object with

* `model/<key>`: every model variable, keyed by its stable path (see
  `variable_keys`), so a checkpoint restores by name, never by position;
* `weighting/<key>`: the weighting's variables, keyed the same way;
* `optimizers/<group>`: the optimizers (slots, iterations);
* `data/<stream>`: the position of every data stream;
* `actions/<i>`: the actions' state;
* `accumulator`: gradient-accumulation sums, when accumulating.

Keras numbers automatically named layers per process (`dense_head_3`), so
`variable.path` differs between two builds of one configuration. A key is
the path relative to the model with heads under `heads/<task>`, the
sharing module under `sharing`, and the number of every automatically
named layer replaced by its rank among its siblings of that base name.
"""

import re

import numpy as np
import tensorflow as tf

_SUFFIX = re.compile(r"_\d+$")
_SEPARATOR = ":"
_VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"


def _canonical(relative_paths):
    """Renumbers `_<n>` suffixes by rank among siblings, per parent."""
    names, seen, out = {}, {}, []
    for path in relative_paths:
        parent, canonical = "", []
        for segment in path.split("/"):
            key = (parent, segment)
            if key not in names:
                base = _SUFFIX.sub("", segment)
                rank = seen.get((parent, base), 0)
                seen[(parent, base)] = rank + 1
                names[key] = base if rank == 0 else f"{base}_{rank}"
            canonical.append(names[key])
            parent = "/".join(canonical)
        out.append(parent)
    return out


def _relative(variable, roots):
    for prefix, name in roots:
        if variable.path.startswith(prefix + "/"):
            return name + variable.path[len(prefix) :]
    return variable.path


def variable_keys(layer):
    """Dict of stable key to variable for the weights of `layer`.

    Args:
        layer: a built Keras layer; a `MultiTaskModel` gets its heads keyed
            `heads/<task>/...` and its sharing module `sharing/...`.

    """
    roots = [(head.path, f"heads/{t}") for t, head in _heads(layer)]
    if hasattr(layer, "sharing"):
        roots.append((layer.sharing.path, "sharing"))
    roots.append((layer.path, ""))
    variables = list(layer.weights)
    relative = [_relative(v, roots).lstrip("/") for v in variables]
    keys, counts = [], {}
    for key in _canonical(relative):
        # Two variables of one layer may share a path; later ones get `#n`.
        counts[key] = counts.get(key, 0) + 1
        keys.append(key if counts[key] == 1 else f"{key}#{counts[key] - 1}")
    return dict(zip(keys, variables))


def _heads(layer):
    return list(getattr(layer, "heads", {}).items())


def _node(key):
    return key.replace("/", _SEPARATOR)


def keyed(layer):
    """The trackable dict of `layer`'s variables stored in a checkpoint."""
    return {_node(k): v for k, v in variable_keys(layer).items()}


def model_variable_shapes(prefix, scope="model"):
    """Dict of key to shape of the `state/<scope>` variables at `prefix`."""
    head = f"state/{scope}/"
    shapes = {}
    for name, shape in tf.train.list_variables(prefix):
        if name.startswith(head) and name.endswith(_VALUE):
            node = name[len(head) : -len(_VALUE)]
            shapes[node.replace(_SEPARATOR, "/")] = tuple(shape)
    return shapes


def check_fits(prefix, layer, scope="model"):
    """Raises ValueError naming the first variable that does not fit.

    Args:
        prefix: checkpoint prefix.
        layer: the model (or weighting) whose variables are restored.
        scope: the checkpoint's `state/<scope>`.
    """
    stored = model_variable_shapes(prefix, scope)
    name = prefix.rstrip("/").split("/")[-1]
    what = f"checkpoint {name} does not fit the {scope}"
    for key, variable in variable_keys(layer).items():
        if key not in stored:
            raise ValueError(
                f"{what}: variable {key!r} of the {scope} is not in the "
                "checkpoint."
            )
        if stored[key] != tuple(variable.shape):
            raise ValueError(
                f"{what}: variable {key!r} has shape {stored[key]} in the "
                f"checkpoint and {tuple(variable.shape)} in the {scope}."
            )
    extra = sorted(set(stored) - set(variable_keys(layer)))
    if extra:
        raise ValueError(
            f"{what}: the checkpoint has variable {extra[0]!r}, which the "
            f"{scope} does not have."
        )


def read_model_variables(prefix, scope=""):
    """Values of the model variables stored at `prefix`, by key.

    Args:
        prefix: checkpoint prefix of a `Controller` run.
        scope: only keys under this path (e.g. "sharing"); keys are
            returned relative to it.

    Returns:
        Dict of key (e.g. "heads/depth/output_conv/kernel") to array.
    """
    reader = tf.train.load_checkpoint(prefix)
    head = scope.rstrip("/") + "/" if scope else ""
    out = {}
    for key in model_variable_shapes(prefix):
        if key.startswith(head):
            tensor = f"state/model/{_node(key)}{_VALUE}"
            out[key[len(head) :]] = np.asarray(reader.get_tensor(tensor))
    return out


def find_scope(stored, layer):
    """The scope of `stored` keys holding `layer`'s variables, or None.

    A scope holding all of them is preferred; otherwise the first scope
    holding the first of them (the caller reports what is missing).

    Args:
        stored: dict of checkpoint key to shape or value.
        layer: a built layer (e.g. a clone of the run's backbone).
    """
    keys = list(variable_keys(layer))
    if not keys:
        return None
    first, partial = keys[0], None
    for key in stored:
        if key == first or key.endswith("/" + first):
            scope = key[: -len(first)].rstrip("/")
            head = scope + "/" if scope else ""
            if all(head + k in stored for k in keys):
                return scope
            partial = scope if partial is None else partial
    return partial


def make_checkpoint(
    step, model, weighting, optimizers, data, actions, accumulator=None
):
    """The `tf.train.Checkpoint` of a run (layout: see the module doc)."""
    state = tf.Module()
    state.model = keyed(model)
    state.weighting = keyed(weighting)
    state.optimizers = optimizers
    state.data = data
    state.actions = actions
    if accumulator is not None:
        # Mid-window gradient sums and the micro-step counter.
        state.accumulator = accumulator
    checkpoint = tf.train.Checkpoint(step=step, state=state)
    # Created now (the property makes it), so that `write` stores it and a
    # restore finds every object of the checkpoint matched.
    checkpoint.save_counter  # noqa: B018
    return checkpoint


def restore(checkpoint, path, model, weighting):
    """Restores `path` into `checkpoint` after checking it fits by name.

    Raises:
        ValueError: naming the first missing, unexpected or mis-shaped
            model or weighting variable.
    """
    check_fits(path, model, "model")
    check_fits(path, weighting, "weighting")
    status = checkpoint.restore(path)
    status.assert_existing_objects_matched().expect_partial()
