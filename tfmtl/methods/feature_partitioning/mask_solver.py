"""Channel masks of a partition: the greedy stochastic solver.

`Partition.masks` turns absolute channel counts into binary masks here.
"""

import numpy as np

# Channels a weighted draw must not prefer get this weight relative to the
# largest one: they are taken only when too few weighted channels remain.
_RELATIVE_FLOOR = 1e-12


def draw_log_weights(masks, targets, need, pool):
    """Log-probabilities (unnormalised) of the next task's channel draw.

    Each earlier task s with `n_s` channels contributes the factor
    `k / (n_s * need)` inside its mask and `(need - k) / ((C - n_s) * need)`
    outside, `k` its target overlap with the new task, so that the expected
    overlap of a draw of `need` channels with task s is `k`. The product is
    summed in log space (it has one ~1/C factor per earlier task, which no
    absolute floor may swamp), then normalised to its largest value, and
    channels of zero weight in `pool` get the relative floor.

    Args:
        masks: [T, C] boolean masks of the earlier tasks.
        targets: [T] target overlaps with each earlier task (channels).
        need: Channels the new task takes.
        pool: [C] boolean, the channels the new task may take.

    Returns:
        [C] log-weights; `-inf` outside `pool`, at most 0 inside.
    """
    channels = masks.shape[1]
    with np.errstate(divide="ignore"):
        log_w = np.zeros(channels)
        for s in range(len(masks)):
            n_s = int(masks[s].sum())
            k = min(int(targets[s]), need, n_s)
            inside = k / max(n_s * need, 1)
            outside = (need - k) / max((channels - n_s) * need, 1)
            log_w += np.log(np.where(masks[s], inside, outside))
    log_w = np.where(pool, log_w, -np.inf)
    top = log_w.max()
    if not np.isfinite(top):
        # compat: the reference falls back to a uniform draw when every
        # channel has zero weight; here uniform over `pool` only.
        return np.where(pool, 0.0, -np.inf)
    # compat: the reference draws only among channels of nonzero weight
    # and then takes fewer channels than requested; the relative floor
    # keeps every task's channel count exact instead.
    return np.where(
        pool, np.logaddexp(log_w - top, np.log(_RELATIVE_FLOOR)), -np.inf
    )


def solve_masks(counts, targets, channels, rng, iterations, allowed=None):
    """Greedy mask construction, as the reference's `mask_solver`.

    Task 0 takes the first channels of its pool; each later task draws its
    channels without replacement with the probabilities of
    `draw_log_weights`, keeping the best of `iterations` draws (closest
    overlap counts with the earlier tasks, L2).

    Args:
        counts: [N] channels per task.
        targets: [N, N] target overlaps (channels).
        channels: Number of channels C.
        rng: `np.random.Generator` of the draws.
        iterations: Draws per task.
        allowed: Optional [N, C] masks restricting each task's draw (the
            forward masks, when solving backward masks).

    Returns:
        [N, C] boolean masks.
    """
    n = len(counts)
    masks = np.zeros((n, channels), dtype=bool)
    for t in range(n):
        pool = np.ones(channels, bool) if allowed is None else allowed[t] > 0
        need = min(int(counts[t]), int(pool.sum()))
        if need <= 0:
            continue
        if t == 0:
            masks[t, np.flatnonzero(pool)[:need]] = True
            continue
        log_w = draw_log_weights(masks[:t], targets[:t, t], need, pool)
        # Sampling without replacement proportionally to the weights is the
        # top-`need` of log-weights plus Gumbel noise.
        keys = log_w[None, :] + rng.gumbel(size=(iterations, channels))
        chosen = np.argsort(-keys, axis=1)[:, :need]
        draws = np.zeros((iterations, channels), bool)
        np.put_along_axis(draws, chosen, True, axis=1)
        got = draws.astype(int) @ masks[:t].T.astype(int)  # [iters, t]
        error = ((got - targets[:t, t][None, :]) ** 2).sum(axis=1)
        masks[t] = draws[int(np.argmin(error))]
    return masks


def fixed_share_masks(num_tasks, channels, share_amt):
    """The reference's `share_fixed` masks, built directly.

    Each task owns a private block of `floor(C (1 - share_amt) / N)`
    channels (consecutive, in task order); the remaining last channels are
    read by every task. Backward masks equal the forward ones.

    Args:
        num_tasks: Number of tasks N.
        channels: Number of channels C.
        share_amt: Fraction of the channels shared by all tasks.

    Returns:
        [N, C] boolean masks.
    """
    per_task = int(np.floor(channels * (1.0 - share_amt) / num_tasks))
    shared = channels - per_task * num_tasks
    masks = np.zeros((num_tasks, channels), dtype=bool)
    for t in range(num_tasks):
        masks[t, t * per_task : (t + 1) * per_task] = True
    if shared > 0:
        masks[:, channels - shared :] = True
    return masks
