"""The optimizer dict of a run with one optimizer per task."""


def per_task_optimizers(tasks, optimizer, group="weights"):
    """Maps `group` and every `"<group>/<task>"` to `optimizer`.

    `MultiTaskModel` puts every head in `group` as well, so that group needs
    an optimizer too (the per-task schedule never steps it).

    Each optimizer counts only its own task's steps (`iterations`), so a
    learning-rate schedule of the reference's global step must be a
    `GlobalStepDecay`, bound to the run's global step by the
    `BindGlobalStep` action (as `fp.gin` does).

    Args:
        tasks: Task names.
        optimizer: An optimizer factory (class or gin configurable); each
            group gets its own instance, hence its own momentum.
        group: Group prefix, as given to `FeaturePartitioning`.

    Returns:
        Dict of group name to `optimizer`.
    """
    groups = {group: optimizer}
    groups.update({f"{group}/{t}": optimizer for t in tasks})
    return groups
