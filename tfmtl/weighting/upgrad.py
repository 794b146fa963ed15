"""UPGrad: unconflicting projection of gradients.

Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024
(arXiv:2406.16232), Eq. 4 and Proposition 1. Reference implementation
checked against: TorchJD ``src/torchjd/aggregation/_upgrad.py``
(``UPGradWeighting.forward``) and ``_utils/dual_cone.py``
(``project_weights``).
"""

import keras
import tensorflow as tf

from tfmtl.weighting._solvers import nonnegative_qp
from tfmtl.weighting.gramian_weighting import GramianWeighting


def dual_cone_weights(gramian, u):
    """Weights ``v`` with ``J^T v`` the projection of ``J^T u`` onto the dual
    cone ``{d : J d >= 0}``, from ``G = J J^T`` (float64).

    By Proposition 1 of Quinton & Rey, ``v = argmin_{v >= u} v^T G v``;
    with ``v = u + x`` this is the nonnegative QP
    ``min_{x >= 0} x^T G x / 2 + (G u)^T x``.
    """
    return u + nonnegative_qp(gramian, tf.linalg.matvec(gramian, u))


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
class UPGrad(GramianWeighting):
    """Sum of the projections of every ``u_i g_i`` onto the dual cone.

    ``d = sum_i pi(u_i g_i)``, where ``pi`` projects onto the dual cone
    ``{d : g_j . d >= 0 for all j}`` of the task gradients and ``u`` is the
    preference vector (default ``1 / K``). Each projection is ``J^T v^(i)``
    with ``v^(i) = argmin_{v >= u_i e_i} v^T G v`` (Proposition 1), so
    ``d = sum_j w_j g_j`` with ``w = sum_i v^(i)``: an exact Gramian form,
    solved by `nonnegative_qp` (K QPs per call). As TorchJD, the Gramian is
    first divided by its trace and ``reg_eps I`` is added. ``d`` lies in the
    dual cone (``J d >= 0``: no task's loss increases to first order).

    Reads the parameter Gramian by default (Jacobian descent on the shared
    parameters, as the paper and TorchJD); ``gradients="representation"``
    switches to the representation Gramian.

    Args:
        pref_vector: sequence of K floats, or None for ``1 / K`` (TorchJD
            default).
        norm_eps: below this trace the Gramian is taken as 0 (TorchJD 1e-4).
        reg_eps: ridge added to the normalised Gramian (TorchJD 1e-4).
        gradients: ``"parameters"`` (default) or ``"representation"``.
        **kwargs: forwarded to `keras.layers.Layer`.

    Call arguments:
        losses: float32 [K] per-task losses of this replica.
        gramian: float32 [K, K] Gramian of the per-task gradients.
        training: Python bool or None; ``False`` freezes the state.

    Example:
    ```python
    upgrad = UPGrad()
    upgrad.build(2)
    upgrad(tf.constant([1.0, 1.0]), gramian=tf.constant([[1.0, -0.5],
                                                         [-0.5, 1.0]]))
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

    def call(self, losses, gramian=None, training=None):
        gramian = normalize_and_regularize(
            self.gramian64(gramian), self.norm_eps, self.reg_eps
        )
        u = preference(self.pref_vector, self.num_tasks)
        eye = tf.eye(self.num_tasks, dtype=tf.float64)
        weights = tf.add_n(
            [
                dual_cone_weights(gramian, u[i] * eye[i])
                for i in range(self.num_tasks)
            ]
        )
        return self.combine(weights, losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(
            pref_vector=self.pref_vector,
            norm_eps=self.norm_eps,
            reg_eps=self.reg_eps,
        )
        return config
