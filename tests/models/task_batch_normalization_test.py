"""TaskBatchNormalization: per-task statistics, task routing, config."""

import numpy as np
import tensorflow as tf

from tfmtl.models.layers import TaskBatchNormalization


def test_task_batch_norm_keeps_per_task_statistics():
    bn = TaskBatchNormalization(2, momentum=0.0)
    bn(tf.fill((4, 3), 5.0), task=1, training=True)
    np.testing.assert_allclose(bn.norms[1].moving_mean, 5.0)
    np.testing.assert_allclose(bn.norms[0].moving_mean, 0.0)


def test_task_index_is_the_default_task_and_config_round_trips():
    bn = TaskBatchNormalization(2, momentum=0.0, name="bn")
    bn.task_index = 1
    bn(tf.fill((4, 3), 2.0), training=True)
    np.testing.assert_allclose(bn.norms[1].moving_mean, 2.0)
    np.testing.assert_allclose(bn.norms[0].moving_mean, 0.0)
    assert [n.name for n in bn.norms] == ["task0", "task1"]
    clone = TaskBatchNormalization.from_config(bn.get_config())
    assert (clone.num_tasks, clone.momentum, clone.epsilon) == (2, 0.0, 1e-5)
