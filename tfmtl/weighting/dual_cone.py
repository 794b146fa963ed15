"""Projections onto the dual cone of the task gradients, from the Gramian.

The shared part of UPGrad and DualProj (Quinton & Rey, "Jacobian Descent
for Multi-Objective Optimization", 2024, arXiv:2406.16232, Proposition 1).
Reference implementation checked against: TorchJD
``src/torchjd/aggregation/_utils/dual_cone.py`` (``project_weights``) and
``_utils/gramian.py`` (``normalize``, ``regularize``).
"""

import keras
import tensorflow as tf

from tfmtl.weighting._solvers import nonnegative_qp_batch
from tfmtl.weighting.gramian_weighting import GramianWeighting


def dual_cone_weights(gramian, u):
    """Weights ``v_b`` with ``J^T v_b`` the projection of ``J^T u_b`` onto the
    dual cone ``{d : J d >= 0}``, from ``G = J J^T`` (float64), for every row
    ``u_b`` of ``u`` [B, K] at once.

    By Proposition 1 of Quinton & Rey, ``v = argmin_{v >= u} v^T G v``;
    with ``v = u + x`` this is the nonnegative QP
    ``min_{x >= 0} x^T G x / 2 + (G u)^T x``, one per row, all with the same
    ``G`` (solved together by `nonnegative_qp_batch`).
    """
    return u + nonnegative_qp_batch(gramian, tf.matmul(u, gramian))


def normalize_and_regularize(gramian, norm_eps, reg_eps):
    """TorchJD's ``regularize(normalize(G))``: ``G / trace(G)`` (0 when the
    trace is below ``norm_eps``) plus ``reg_eps I``."""
    trace = tf.linalg.trace(gramian)
    normalized = tf.where(
        trace < norm_eps,
        tf.zeros_like(gramian),
        gramian / tf.maximum(trace, norm_eps),
    )
    k = gramian.shape[0]
    return normalized + reg_eps * tf.eye(k, dtype=tf.float64)


def preference(pref_vector, num_tasks):
    """The preference weights as float64 [K] (default: the mean, 1 / K)."""
    if pref_vector is None:
        return tf.fill([num_tasks], tf.constant(1.0 / num_tasks, tf.float64))
    if len(pref_vector) != num_tasks:
        raise ValueError(
            f"pref_vector has {len(pref_vector)} entries for {num_tasks} tasks"
        )
    return tf.constant(pref_vector, tf.float64)


@keras.saving.register_keras_serializable(package="tfmtl")
class DualConeWeighting(GramianWeighting):
    """Base of the weightings that project onto the dual cone (TorchJD's).

    ``call`` normalises the float64 Gramian by its trace, adds
    ``reg_eps I``, and hands it with the preference vector ``u`` to
    ``cone_weights(gramian, u)``, which subclasses implement (float64 [K]).

    Args:
        pref_vector: sequence of K floats, or None for ``1 / K`` (TorchJD
            default).
        norm_eps: below this trace the Gramian is taken as 0 (TorchJD 1e-4).
        reg_eps: ridge added to the normalised Gramian (TorchJD 1e-4).
        gradients: ``"parameters"`` (default) or ``"representation"``.
        **kwargs: forwarded to `GramianWeighting`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: float32 or float64 [K, K] Gramian of the task gradients.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    class Mean(DualConeWeighting):
        def cone_weights(self, gramian, u):
            return u

    Mean().build(2)
    ```

    Reference:
        Quinton & Rey, arXiv:2406.16232, 2024.
    """

    default_gradients = "parameters"

    def __init__(self, pref_vector=None, norm_eps=1e-4, reg_eps=1e-4, **kwargs):
        super().__init__(**kwargs)
        self.pref_vector = (
            None if pref_vector is None else [float(p) for p in pref_vector]
        )
        self.norm_eps = norm_eps
        self.reg_eps = reg_eps

    def cone_weights(self, gramian, u):
        """float64 [K] weights from the regularised Gramian and ``u``."""
        raise NotImplementedError

    def call(self, losses, gramian=None, training=None):
        gramian = normalize_and_regularize(
            self.gramian64(gramian), self.norm_eps, self.reg_eps
        )
        u = preference(self.pref_vector, self.num_tasks)
        return self.combine(self.cone_weights(gramian, u), losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(
            pref_vector=self.pref_vector,
            norm_eps=self.norm_eps,
            reg_eps=self.reg_eps,
        )
        return config
