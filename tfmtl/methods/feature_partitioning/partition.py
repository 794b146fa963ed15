"""Partition matrices of feature partitioning and the channel-mask solver.

A partition of C channels among N tasks is described by two N x N matrices
with entries in [0, 1]; only the diagonal and the upper triangle are read.

* Forward matrix F: `F[i, i] = d_i`, the fraction of channels task i reads.
  An off-diagonal entry `F[i, j]` places the absolute overlap
  `|A_i & A_j| / C` inside its feasible range
  `[max(0, d_i + d_j - 1), min(d_i, d_j)]`.
* Backward matrix B: `b_i = B[i, i] * d_i` is the fraction of all channels
  task i updates (a subset of the channels it reads); `B[i, j]` places the
  backward overlap inside `[max(0, b_i + b_j - d_i - d_j + o_ij),
  min(o_ij, b_i, b_j)]`.

So every point of `[0, 1]^(N (N + 1))` is a valid partition, which is what
lets the outer search (ES, random, grid) move freely in the unit cube.
"""

import json

import numpy as np

from tfmtl.methods.feature_partitioning.mask_solver import (
    fixed_share_masks,
    solve_masks,
)
from tfmtl.methods.feature_partitioning.partition_feasibility import (
    check_feasible,
    relative_matrices,
)

_ROUND = 1e-3


def _triu_pairs(n):
    return [(i, j) for i in range(n) for j in range(i, n)]


class Partition:
    """Forward and backward partition matrices of N tasks.

    Args:
        forward: [N, N] array in [0, 1] (diagonal: feature usage; upper
            triangle: relative position of each pairwise overlap).
        backward: [N, N] array in [0, 1] (diagonal: share of the read
            channels a task updates; upper triangle: relative backward
            overlap).
        fixed_share: When set, `masks` builds the reference's
            `share_fixed` masks directly (this fraction shared by all
            tasks) instead of solving for the matrices.

    Example:
    >>> p = Partition.independent(3)
    >>> fwd, bwd = p.masks(12)
    >>> fwd.sum(axis=1).tolist()
    [4.0, 4.0, 4.0]

    Reference:
        Newell et al., "Feature Partitioning for Efficient Multi-Task
        Architectures", arXiv:1908.04339.
    """

    def __init__(self, forward, backward, fixed_share=None):
        forward = np.asarray(forward, dtype=np.float64)
        backward = np.asarray(backward, dtype=np.float64)
        if forward.ndim != 2 or forward.shape[0] != forward.shape[1]:
            raise ValueError(f"forward must be square, got {forward.shape}.")
        if backward.shape != forward.shape:
            raise ValueError(
                f"backward has shape {backward.shape}, forward {forward.shape}."
            )
        for name, m in (("forward", forward), ("backward", backward)):
            if not np.all(np.isfinite(m)) or m.min() < 0 or m.max() > 1:
                raise ValueError(f"{name} entries must lie in [0, 1].")
        # Only the upper triangle and diagonal matter: symmetrise them.
        self.forward = np.triu(forward) + np.triu(forward, 1).T
        self.backward = np.triu(backward) + np.triu(backward, 1).T
        self.fixed_share = None if fixed_share is None else float(fixed_share)

    @property
    def num_tasks(self):
        return self.forward.shape[0]

    # ------------------------------------------------------------ vectors
    @staticmethod
    def vector_size(num_tasks):
        """Number of free parameters: `N (N + 1)` (two upper triangles)."""
        return num_tasks * (num_tasks + 1)

    @staticmethod
    def forward_diagonal_indices(num_tasks):
        """Positions of the forward usages `d_i` in `to_vector()`."""
        pairs = _triu_pairs(num_tasks)
        return np.array([k for k, (i, j) in enumerate(pairs) if i == j])

    @classmethod
    def from_vector(cls, vector, num_tasks):
        """Builds a partition from the layout of `to_vector`."""
        vector = np.clip(np.asarray(vector, dtype=np.float64), 0.0, 1.0)
        if vector.shape != (cls.vector_size(num_tasks),):
            raise ValueError(
                f"Expected {cls.vector_size(num_tasks)} values for "
                f"{num_tasks} tasks, got shape {vector.shape}."
            )
        half = len(vector) // 2
        mats = []
        for part in (vector[:half], vector[half:]):
            m = np.zeros((num_tasks, num_tasks))
            for value, (i, j) in zip(part, _triu_pairs(num_tasks)):
                m[i, j] = value
            mats.append(m)
        return cls(*mats)

    def to_vector(self):
        """Forward then backward upper triangles (row-major, with diagonal)."""
        pairs = _triu_pairs(self.num_tasks)
        return np.array(
            [self.forward[i, j] for i, j in pairs]
            + [self.backward[i, j] for i, j in pairs]
        )

    # ------------------------------------------------------------ presets
    @classmethod
    def share_all(cls, num_tasks):
        """Every task reads and updates every channel."""
        ones = np.ones((num_tasks, num_tasks))
        return cls(ones, ones)

    @classmethod
    def independent(cls, num_tasks):
        """Disjoint blocks of `1 / N` of the channels; backward = forward."""
        fwd = np.zeros((num_tasks, num_tasks))
        np.fill_diagonal(fwd, 1.0 / num_tasks)
        bwd = np.zeros((num_tasks, num_tasks))
        np.fill_diagonal(bwd, 1.0)
        return cls(fwd, bwd)

    @classmethod
    def share_fwd_only(cls, num_tasks):
        """Everyone reads everything; each updates a disjoint `1 / N`."""
        fwd = np.ones((num_tasks, num_tasks))
        bwd = np.zeros((num_tasks, num_tasks))
        np.fill_diagonal(bwd, 1.0 / num_tasks)
        return cls(fwd, bwd)

    @classmethod
    def share_fixed(cls, num_tasks, share_amt):
        """A fraction `share_amt` shared by all, the rest split evenly.

        The matrices describe the nominal fractions; `masks` builds the
        reference's masks directly (`fixed_share_masks`): a private block
        of `floor(C (1 - share_amt) / N)` channels per task and the
        remaining channels common to all, so the common block is exact (the
        solver only targets pairwise overlaps, in expectation).
        """
        d = share_amt + (1.0 - share_amt) / num_tasks
        lo, hi = max(0.0, 2 * d - 1.0), d
        r = 0.0 if hi - lo < 1e-12 else (share_amt - lo) / (hi - lo)
        fwd = np.full((num_tasks, num_tasks), float(np.clip(r, 0, 1)))
        np.fill_diagonal(fwd, d)
        bwd = np.ones((num_tasks, num_tasks))
        return cls(fwd, bwd, fixed_share=share_amt)

    @classmethod
    def random(cls, num_tasks, rng=None):
        """The reference's "restrict" sampler of initial partitions.

        Forward usages 0.5 + N(0, 0.2^2), backward usages 1 + N(0, 0.15^2),
        overlaps uniform, everything clipped to [0.05, 1].
        """
        rng = rng if rng is not None else np.random.default_rng()
        fwd = rng.uniform(size=(num_tasks, num_tasks))
        bwd = rng.uniform(size=(num_tasks, num_tasks))
        np.fill_diagonal(fwd, 0.5 + 0.2 * rng.standard_normal(num_tasks))
        np.fill_diagonal(bwd, 1.0 + 0.15 * rng.standard_normal(num_tasks))
        return cls(np.clip(fwd, 0.05, 1.0), np.clip(bwd, 0.05, 1.0))

    @classmethod
    def from_masks(cls, forward, backward):
        """The partition whose masks are `forward`, `backward` [N, C].

        Inverts the mapping of relative to absolute overlaps, e.g. to
        describe a hand-made partition or to test the solver on jointly
        realisable targets.
        """
        return cls(*relative_matrices(forward, backward))

    @classmethod
    def get(cls, identifier, num_tasks):
        """Resolves a preset name, dict, JSON file path or `Partition`.

        Args:
            identifier: A `Partition`; `"share_all"`, `"independent"`,
                `"share_fwd_only"`, `"share_fixed:<amount>"`,
                `"random:<seed>"`; a dict with "forward" and "backward",
                or a search summary (its "best_partition"); or the path
                of a JSON file holding either, such as a search's
                `best.json`.
            num_tasks: Number of tasks the partition must describe.

        Returns:
            A `Partition` for `num_tasks` tasks.
        """
        if isinstance(identifier, Partition):
            partition = identifier
        elif isinstance(identifier, dict) and "forward" not in identifier:
            # A search summary (`best.json` of `SearchRunner`).
            if identifier.get("best_partition") is None:
                raise ValueError(
                    "Not a partition: a dict needs 'forward' and "
                    "'backward', or a search summary a 'best_partition' "
                    f"(none found yet?); keys: {sorted(identifier)}."
                )
            if isinstance(identifier["best_partition"], list):
                raise ValueError(
                    "The summary holds a list of partitions (num_unique > "
                    "1): read it with unique_partitions.get_partitions."
                )
            return cls.get(identifier["best_partition"], num_tasks)
        elif isinstance(identifier, dict):
            partition = cls(
                identifier["forward"],
                identifier["backward"],
                identifier.get("fixed_share"),
            )
        elif isinstance(identifier, str) and identifier.endswith(".json"):
            with open(identifier) as f:
                return cls.get(json.load(f), num_tasks)
        elif isinstance(identifier, str):
            name, _, arg = identifier.partition(":")
            if name == "share_fixed":
                partition = cls.share_fixed(num_tasks, float(arg or 0.5))
            elif name == "random":
                rng = np.random.default_rng(int(arg or 0))
                partition = cls.random(num_tasks, rng)
            elif name in ("share_all", "independent", "share_fwd_only"):
                partition = getattr(cls, name)(num_tasks)
            else:
                raise ValueError(f"Unknown partition preset {identifier!r}.")
        else:
            raise TypeError(f"Cannot make a Partition from {identifier!r}.")
        if partition.num_tasks != num_tasks:
            raise ValueError(
                f"Partition describes {partition.num_tasks} tasks, the "
                f"model has {num_tasks}."
            )
        return partition

    def get_config(self):
        config = {
            "forward": self.forward.tolist(),
            "backward": self.backward.tolist(),
        }
        if self.fixed_share is not None:
            config["fixed_share"] = self.fixed_share
        return config

    # ----------------------------------------------------- absolute values
    # compat: the reference rounds these fractions to 1e-3; that can lose a
    # channel (1/3 of 12 channels -> 0.333 -> 3), so they are kept exact.
    def usage(self):
        """Forward fraction of channels per task, `d` [N]."""
        return np.diag(self.forward).copy()

    def overlaps(self):
        """Absolute forward overlaps [N, N] (diagonal = usage)."""
        d = np.diag(self.forward)
        lo = np.maximum(0.0, d[:, None] + d[None, :] - 1.0)
        hi = np.minimum(d[:, None], d[None, :])
        o = lo + self.forward * (hi - lo)
        np.fill_diagonal(o, d)
        return o

    def backward_usage(self):
        """Fraction of all channels each task updates, `b` [N]."""
        return np.diag(self.backward) * self.usage()

    def backward_overlaps(self):
        """Absolute backward overlaps [N, N] (diagonal = backward usage)."""
        d, o, b = self.usage(), self.overlaps(), self.backward_usage()
        lo = np.maximum(
            0.0, b[:, None] + b[None, :] - d[:, None] - d[None, :] + o
        )
        hi = np.minimum(o, np.minimum(b[:, None], b[None, :]))
        ob = lo + self.backward * np.maximum(hi - lo, 0.0)
        np.fill_diagonal(ob, b)
        return ob

    def validate(self, forward_overlaps=None, backward_overlaps=None):
        """Checks that absolute overlaps are realisable.

        With no arguments, checks this partition's own overlaps (always
        feasible by construction); given explicit absolute overlap matrices,
        raises ValueError naming the first infeasible pair.
        """
        o = self.overlaps() if forward_overlaps is None else forward_overlaps
        ob = self.backward_overlaps()
        if backward_overlaps is not None:
            ob = backward_overlaps
        check_feasible(o, ob, 2 * _ROUND)

    # -------------------------------------------------------------- masks
    def masks(self, channels, seed=0, iterations=100):
        """Solves for binary channel masks realising this partition.

        Greedy and stochastic, as the reference (`solve_masks`): task 0
        takes the first channels; each later task draws its channels
        without replacement with probabilities that make the expected
        overlap with every earlier task equal its target, keeping the best
        of `iterations` draws (closest overlap counts, L2). Channel counts
        are met exactly; pairwise overlaps only approximately (a few
        channels off for many tasks), and overlaps of three or more tasks
        are not targeted. Backward masks are solved the same way inside
        each task's forward channels. A `share_fixed` partition builds its
        masks directly instead.

        Args:
            channels: Number of channels C.
            seed: Seed of the draws (the same seed gives the same masks).
            iterations: Draws per task.

        Returns:
            `(forward, backward)`, float32 arrays [N, C] of zeros and ones,
            with `backward <= forward`.
        """
        if self.fixed_share is not None:
            fixed = fixed_share_masks(
                self.num_tasks, channels, self.fixed_share
            )
            return fixed.astype(np.float32), fixed.astype(np.float32)
        self.validate()
        rng = np.random.default_rng(seed)
        counts = np.floor(self.usage() * channels + _ROUND).astype(int)
        targets = np.floor(self.overlaps() * channels + _ROUND).astype(int)
        forward = solve_masks(counts, targets, channels, rng, iterations)
        b_counts = np.floor(self.backward_usage() * channels + _ROUND)
        b_targets = np.floor(self.backward_overlaps() * channels + _ROUND)
        backward = solve_masks(
            np.minimum(b_counts.astype(int), counts),
            b_targets.astype(int),
            channels,
            rng,
            iterations,
            forward,
        )
        # compat: the reference finally permutes channels lexicographically
        # for display; masks here keep the solver's order.
        return forward.astype(np.float32), backward.astype(np.float32)
