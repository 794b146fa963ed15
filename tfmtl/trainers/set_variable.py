"""The one action that sets model state from the step."""

from tfmtl.trainers.actions import Action


def resolve_variable(model, path):
    """The variable at dotted attribute `path` from `model`.

    Args:
        model: The run's model.
        path: Attribute path, e.g. `"sharing.temperature"`.

    Returns:
        The variable.

    Raises:
        ValueError: naming the first attribute that is missing, or the
            path when it does not end at a variable.
    """
    target, walked = model, type(model).__name__
    for name in path.split("."):
        if not hasattr(target, name):
            raise ValueError(
                f"SetVariable: {walked} ({type(target).__name__}) has no "
                f"attribute {name!r} (path {path!r})."
            )
        target, walked = getattr(target, name), f"{walked}.{name}"
    if not hasattr(target, "assign"):
        raise ValueError(
            f"SetVariable: {path!r} is a {type(target).__name__}, "
            "not a variable."
        )
    return target


class SetVariable(Action):
    """Assigns `fn(step)` to a model variable after every training step.

    State that a method drives by the step (TAPS's penalty scale,
    AdaShare's Gumbel temperature and unlocked blocks, MTL-NAS's
    temperature and penalty weights) is set by this action and nothing
    else. After `step` steps the next step has 0-based index `step`, so
    the variable gets `fn(step)`: the value the next step uses. The
    variable belongs to the model, so it is checkpointed and a resumed run
    continues. Paths are checked when the run is built.

    Subclasses that set several variables override `values(step,
    context)` instead of passing `path` and `fn`.

    Args:
        path: Dotted attribute path from the model to the variable, e.g.
            `"sharing.temperature"`.
        fn: `fn(step) -> value`; None leaves the variable unchanged.
        every_n_steps: Steps between assignments.

    Example:
    ```python
    actions = [SetVariable("sharing.temperature", lambda s: 5.0 * 0.9**s)]
    ```
    """

    def __init__(self, path=None, fn=None, every_n_steps=1, name=None):
        super().__init__(every_n_steps, "train", name=name)
        if (path is None) != (fn is None):
            raise ValueError("SetVariable needs both `path` and `fn`.")
        self.path, self.fn = path, fn

    def values(self, step, context):
        """`{path: value}` for the step with 0-based index `step`."""
        del context
        return {self.path: self.fn(step)}

    def bind(self, context):
        """Checks every path against the run's model."""
        for path in self.values(0, context):
            resolve_variable(context.model, path)

    def __call__(self, step, logs, context):
        del logs
        for path, value in self.values(step, context).items():
            if value is not None:
                # Resolved each time: a tf.Module attribute holding model
                # variables would put them in the action's checkpoint too.
                resolve_variable(context.model, path).assign(value)
