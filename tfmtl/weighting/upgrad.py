"""UPGrad: unconflicting projection of gradients.

Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024
(arXiv:2406.16232), Eq. 4 and Proposition 1. Reference implementation
checked against: TorchJD ``src/torchjd/aggregation/_upgrad.py``
(``UPGradWeighting.forward``) and ``_utils/dual_cone.py``
(``project_weights``).
"""

import keras
import tensorflow as tf

from tfmtl.weighting.dual_cone import DualConeWeighting, dual_cone_weights


@keras.saving.register_keras_serializable(package="tfmtl")
class UPGrad(DualConeWeighting):
    """Sum of the projections of every ``u_i g_i`` onto the dual cone.

    ``d = sum_i pi(u_i g_i)``, where ``pi`` projects onto the dual cone
    ``{d : g_j . d >= 0 for all j}`` of the task gradients and ``u`` is the
    preference vector (default ``1 / K``). Each projection is ``J^T v^(i)``
    with ``v^(i) = argmin_{v >= u_i e_i} v^T G v`` (Proposition 1), so
    ``d = sum_j w_j g_j`` with ``w = sum_i v^(i)``: an exact Gramian form.
    The K QPs share the Gramian and are solved in one batch by
    `nonnegative_qp_batch`. As TorchJD, the Gramian is first divided by its
    trace and ``reg_eps I`` is added. ``d`` lies in the dual cone
    (``J d >= 0``: no task's loss increases to first order).

    Reads the parameter Gramian by default (Jacobian descent on the shared
    parameters, as the paper and TorchJD); ``gradients="representation"``
    switches to the representation Gramian.

    Args and call arguments: those of `DualConeWeighting` (``pref_vector``,
    ``norm_eps``, ``reg_eps``, ``gradients``; ``losses``, ``gramian``,
    ``training``).

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

    def cone_weights(self, gramian, u):
        return tf.reduce_sum(dual_cone_weights(gramian, tf.linalg.diag(u)), 0)
