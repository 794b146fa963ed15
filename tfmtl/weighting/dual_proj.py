"""DualProj: projection of the mean gradient onto the dual cone.

Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024
(arXiv:2406.16232), the DualProj aggregator (Eq. 11 of Lopez-Paz & Ranzato,
"Gradient Episodic Memory for Continual Learning", NeurIPS 2017). Reference
implementation checked against: TorchJD
``src/torchjd/aggregation/_dualproj.py`` (``DualProjWeighting.forward``).
"""

import keras

from tfmtl.weighting.gramian_weighting import GramianWeighting
from tfmtl.weighting.upgrad import (
    dual_cone_weights,
    normalize_and_regularize,
    preference,
)


@keras.saving.register_keras_serializable(package="tfmtl")
class DualProj(GramianWeighting):
    """Projects ``sum_i u_i g_i`` onto the dual cone of the gradients.

    ``d = pi(J^T u)`` with ``pi`` the projection onto
    ``{d : g_j . d >= 0 for all j}`` and ``u`` the preference vector
    (default ``1 / K``, the mean gradient). By Proposition 1 of Quinton &
    Rey, ``d = J^T w`` with ``w = argmin_{v >= u} v^T G v``: an exact Gramian
    form, solved by `nonnegative_qp`. As TorchJD, the Gramian is first
    divided by its trace and ``reg_eps I`` is added.

    Reads the parameter Gramian by default (as TorchJD, on the shared
    parameters); ``gradients="representation"`` switches sources.

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
    dual_proj = DualProj()
    dual_proj.build(2)
    dual_proj(tf.constant([1.0, 1.0]), gramian=tf.eye(2))  # weights 1/2
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
        weights = dual_cone_weights(gramian, u)
        return self.combine(weights, losses, training)

    def get_config(self):
        config = super().get_config()
        config.update(
            pref_vector=self.pref_vector,
            norm_eps=self.norm_eps,
            reg_eps=self.reg_eps,
        )
        return config
