"""MTL-NAS's search space: candidate edges, their costs and logits.

A searched block `i` of task `t` may receive the pre-fusion output of
block `j` of every other task `s` when `j` is in the same stage as `i`
(same resolution and width), `j <= i` and `i - j < window`. An edge is the
triple `(i, s, j)`; `edges[t]` lists task t's edges in order, and the
architecture logits `alpha` are [T, len(edges[0])].
"""

import json

import numpy as np
import tensorflow as tf


def candidate_edges(num_tasks, searched_blocks, stage_of, window):
    """The candidate edges `(i, s, j)` of every task.

    Args:
        num_tasks: int.
        searched_blocks: the block indices that receive edges.
        stage_of: the stage index of each block.
        window: int, depth limit of an edge (`i - j < window`).

    Returns:
        A list (one per task) of lists of `(i, s, j)`.
    """
    out = []
    for t in range(num_tasks):
        edges = []
        for i in searched_blocks:
            for s in range(num_tasks):
                if s == t:
                    continue
                for j in searched_blocks:
                    if stage_of[j] == stage_of[i] and j <= i and i - j < window:
                        edges.append((i, s, j))
        out.append(edges)
    return out


def edge_costs(edges, shapes, cost_weighted):
    """The L1 cost of every edge: 1, or its target block's width / mean.

    Args:
        edges: the edges of every task (`candidate_edges`).
        shapes: `shapes[t][i]`, the output shape of block i of task t.
        cost_weighted: bool, weight by width (else every cost is 1).

    Returns:
        float32 array [T, edges_per_task].
    """
    width = np.array(
        [[shapes[t][i][-1] for i, _, _ in e] for t, e in enumerate(edges)],
        np.float32,
    )
    return width / width.mean() if cost_weighted else width * 0 + 1


def load_architecture(architecture):
    """`architecture` as a dict: None, a dict, or the path of its JSON file.

    Raises:
        FileNotFoundError: when the file does not exist.
    """
    if not isinstance(architecture, str):
        return architecture
    if not tf.io.gfile.exists(architecture):
        raise FileNotFoundError(
            f"Architecture file {architecture} not found (written "
            "as architecture.json by ConnectivitySummary)."
        )
    with tf.io.gfile.GFile(architecture) as f:
        return json.load(f)


def initial_alpha(tasks, edges, alpha_init, architecture=None):
    """The initial logits: `alpha_init`, or those of a saved architecture.

    Args:
        tasks: task names, in order.
        edges: the edges of every task.
        alpha_init: float, the logit of edges `architecture` does not have.
        architecture: None or a dict from `architecture_dict`.

    Returns:
        float32 array [T, edges_per_task].
    """
    alpha = np.full((len(tasks), len(edges[0])), alpha_init, np.float32)
    if architecture:
        saved = {
            (e["task"], e["block"], e["source_task"], e["source_block"]): (
                e["alpha"]
            )
            for e in architecture["edges"]
        }
        for t, task_edges in enumerate(edges):
            for n, (i, s, j) in enumerate(task_edges):
                key = (tasks[t], i, tasks[s], j)
                if key in saved:
                    alpha[t, n] = saved[key]
    return alpha


def architecture_dict(tasks, edges, alpha, num_blocks):
    """The edges with their logits, JSON-serialisable.

    Args:
        tasks: task names, in order.
        edges: the edges of every task.
        alpha: the logits [T, edges_per_task].
        num_blocks: int, blocks per branch.

    Returns:
        `{"tasks": [...], "num_blocks": n, "edges": [{"task", "block",
        "source_task", "source_block", "alpha", "gate", "keep"}]}` where
        `gate` is `sigmoid(alpha)` and `keep` is `alpha > 0`.
    """
    alpha = np.asarray(alpha, np.float64)
    out = []
    for t, task_edges in enumerate(edges):
        for n, (i, s, j) in enumerate(task_edges):
            a = float(alpha[t, n])
            out.append(
                {
                    "task": tasks[t],
                    "block": i,
                    "source_task": tasks[s],
                    "source_block": j,
                    "alpha": a,
                    "gate": float(1.0 / (1.0 + np.exp(-a))),
                    "keep": a > 0,
                }
            )
    return {"tasks": list(tasks), "num_blocks": num_blocks, "edges": out}
