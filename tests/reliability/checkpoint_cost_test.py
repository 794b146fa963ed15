"""Issue #17 items 9 / 5b: each checkpoint is written once and holds only
what a resume needs (weights, optimizer slots, step, stream positions)."""

import os

import numpy as np
import tensorflow as tf


def _count_writes(monkeypatch, directory):
    """Counts `tf.train.Checkpoint` writes under `directory`."""
    writes = []
    write = tf.train.Checkpoint._write

    def counting(self, file_prefix, *args, **kwargs):
        if str(file_prefix).startswith(str(directory)):
            writes.append(os.path.basename(str(file_prefix)))
        return write(self, file_prefix, *args, **kwargs)

    monkeypatch.setattr(tf.train.Checkpoint, "_write", counting)
    return writes


def test_final_checkpoint_is_written_once(tmp_path, make_run, monkeypatch):
    writes = _count_writes(monkeypatch, tmp_path)
    run = make_run(tmp_path, checkpoint_every=2)
    run.train(4)
    # Steps 2 and 4; the end of training does not write step 4 again.
    assert len(writes) == 2, writes
    # Resuming a finished run writes nothing either.
    make_run(tmp_path, checkpoint_every=2).train(4)
    assert len(writes) == 2, writes


def test_checkpoint_size_is_weights_plus_slots(tmp_path, make_run):
    run = make_run(tmp_path)
    run.train(2)
    prefix = run.latest_checkpoint()
    on_disk = sum(
        os.path.getsize(p) for p in tf.io.gfile.glob(prefix + ".data-*")
    )
    needed = sum(np.array(v).nbytes for v in run.model.weights)
    for optimizer in run.optimizers.values():
        needed += sum(np.array(v).nbytes for v in optimizer.variables)
    needed += sum(np.array(v).nbytes for v in run.weighting.weights)
    assert on_disk <= 1.2 * needed, (on_disk, needed)
    # And it holds all of them: a checkpoint of only the weights would be
    # smaller than the slots alone.
    assert on_disk >= needed
    names = [n for n, _ in tf.train.list_variables(prefix)]
    assert not any("iterator" in n.lower() for n in names)
