"""DualProj: projection of the mean gradient onto the dual cone.

Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024
(arXiv:2406.16232), the DualProj aggregator (Eq. 11 of Lopez-Paz & Ranzato,
"Gradient Episodic Memory for Continual Learning", NeurIPS 2017). Reference
implementation checked against: TorchJD
``src/torchjd/aggregation/_dualproj.py`` (``DualProjWeighting.forward``).
"""

import keras

from tfmtl.weighting.dual_cone import DualConeWeighting, dual_cone_weights


@keras.saving.register_keras_serializable(package="tfmtl")
class DualProj(DualConeWeighting):
    """Projects ``sum_i u_i g_i`` onto the dual cone of the gradients.

    ``d = pi(J^T u)`` with ``pi`` the projection onto
    ``{d : g_j . d >= 0 for all j}`` and ``u`` the preference vector
    (default ``1 / K``, the mean gradient). By Proposition 1 of Quinton &
    Rey, ``d = J^T w`` with ``w = argmin_{v >= u} v^T G v``: an exact Gramian
    form, solved by `nonnegative_qp_batch` (one row). As TorchJD, the
    Gramian is first divided by its trace and ``reg_eps I`` is added.

    Reads the parameter Gramian by default (as TorchJD, on the shared
    parameters); ``gradients="representation"`` switches sources.

    Args and call arguments: those of `DualConeWeighting` (``pref_vector``,
    ``norm_eps``, ``reg_eps``, ``gradients``; ``losses``, ``gramian``,
    ``training``).

    Example:
    ```python
    dual_proj = DualProj()
    dual_proj.build(2)
    dual_proj(tf.constant([1.0, 1.0]), gramian=tf.eye(2))  # weights 1/2
    ```

    Reference:
        Quinton & Rey, arXiv:2406.16232, 2024.
    """

    def cone_weights(self, gramian, u):
        return dual_cone_weights(gramian, u[None])[0]
