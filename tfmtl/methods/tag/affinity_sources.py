"""The lookahead sources of TAG's affinity: tasks, and sets of tasks.

Reference: google-research `tag/celeba/CelebA.ipynb`, `permute(losses)`:
the colab looks ahead on the summed loss of every *combined task* it
returns. With `FLAGS.order == 1` those are the single tasks plus one source
of all tasks together; otherwise every non-empty subset of the tasks, built
in the order: a, b, a_b, c, a_c, b_c, a_b_c, ... (each new task after every
combination built so far). The gradient of a combined source is the sum of
its tasks' gradients, so a lookahead on it costs one forward pass and no
backward pass beyond the K single-task ones.

Plain Python, no TensorFlow.
"""

SOURCES = ("tasks", "tasks_and_all", "subsets")
MAX_SUBSET_TASKS = 10  # 2**10 - 1 = 1023 lookaheads per measured step


def source_sets(num_tasks, sources="tasks"):
    """Every lookahead source as a tuple of task indices.

    Args:
        num_tasks: K >= 1.
        sources: "tasks" (the K single tasks: the paper's pairwise
            affinity), "tasks_and_all" (the colab's `order=1`: the single
            tasks, then one source of all K tasks) or "subsets" (the
            colab's default `order=-1`: all 2**K - 1 non-empty subsets).

    Returns:
        A list of index tuples: the K single tasks first, in task order,
        then the combined sources in the colab's order.

    Raises:
        ValueError: on an unknown `sources`, or "subsets" with more than
            `MAX_SUBSET_TASKS` tasks.
    """
    if sources not in SOURCES:
        raise ValueError(f"sources must be one of {SOURCES}, got {sources!r}")
    singles = [(i,) for i in range(num_tasks)]
    if sources == "tasks" or num_tasks < 2:
        return singles
    if sources == "tasks_and_all":
        return singles + [tuple(range(num_tasks))]
    if num_tasks > MAX_SUBSET_TASKS:
        raise ValueError(
            f"sources='subsets' takes 2**K - 1 lookaheads per step; K = "
            f"{num_tasks} > {MAX_SUBSET_TASKS} is refused (use "
            "'tasks_and_all')."
        )
    built = []
    for task in range(num_tasks):
        built += [(task,)] + [subset + (task,) for subset in built]
    return singles + [s for s in built if len(s) > 1]


def source_name(tasks, members):
    """Display name of a source: its task names joined by `+`."""
    return "+".join(tasks[i] for i in members)
