"""Issue #17 item 3: damaged checkpoints never stop or silently reset a run.

A run with checkpoints at steps 2, 4 and 6 has its newest checkpoint
damaged in each way a crash or a full disk leaves one (truncated data,
deleted index, garbage in the `checkpoint` state file): the restore logs
one line and falls back to the previous checkpoint, and the older good
checkpoints are never rotated away. Writes are atomic: a crash before the
index is in place leaves the previous checkpoints as they were.
"""

import logging
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tfmtl.trainers import checkpoint_files


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run directory with ckpt-2, ckpt-4, ckpt-6 (three kept)."""
    from tfmtl.testing import tiny_problem
    from tfmtl.trainers import build_controller

    model_dir = tmp_path_factory.mktemp("trained")
    run = build_controller(
        model_dir=str(model_dir),
        summary_every=2,
        checkpoint_every=2,
        **tiny_problem(),
    )
    run.train(6)
    return model_dir


@pytest.fixture
def run_dir(trained, tmp_path):
    target = tmp_path / "run"
    shutil.copytree(trained, target)
    # The state file names absolute paths of the original directory.
    tf.compat.v1.train.update_checkpoint_state(
        str(target),
        str(target / "ckpt-6"),
        all_model_checkpoint_paths=[
            str(target / f"ckpt-{s}") for s in (2, 4, 6)
        ],
    )
    return target


def _data_file(prefix):
    (path,) = tf.io.gfile.glob(f"{prefix}.data-*")
    return path


def _truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def _restore(make_run, run_dir, caplog):
    run = make_run(run_dir)
    with caplog.at_level(logging.WARNING):
        path = run.restore()
    return run, path


def _warnings(caplog):
    return [
        r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()
    ]


def test_truncated_data_falls_back_to_previous(run_dir, make_run, caplog):
    _truncate(_data_file(run_dir / "ckpt-6"))
    run, path = _restore(make_run, run_dir, caplog)
    assert path.endswith("ckpt-4") and run.step == 4
    (line,) = _warnings(caplog)
    assert "ckpt-6" in line and "\n" not in line
    # Training goes on from step 4 and rewrites step 6; the good older
    # checkpoints are still there.
    run.train(8)
    assert run.step == 8
    kept = [
        os.path.basename(p) for p in checkpoint_files.complete(str(run_dir))
    ]
    assert kept == ["ckpt-8", "ckpt-6", "ckpt-4"]
    assert make_run(run_dir).restore().endswith("ckpt-8")


def test_deleted_index_falls_back_instead_of_restarting(
    run_dir, make_run, caplog
):
    os.remove(run_dir / "ckpt-6.index")
    run, path = _restore(make_run, run_dir, caplog)
    assert path.endswith("ckpt-4") and run.step == 4
    (line,) = _warnings(caplog)
    assert "ckpt-6" in line


def test_garbage_state_file_still_finds_checkpoints(run_dir, make_run, caplog):
    (run_dir / "checkpoint").write_bytes(b"\x00garbage {{{ not a proto")
    run, path = _restore(make_run, run_dir, caplog)
    assert path.endswith("ckpt-6") and run.step == 6
    messages = [r.getMessage() for r in caplog.records]
    assert any(
        "Ignoring unreadable checkpoint state file" in m for m in messages
    )


def test_every_checkpoint_damaged_is_an_error_not_a_restart(run_dir, make_run):
    for step in (2, 4, 6):
        _truncate(_data_file(run_dir / f"ckpt-{step}"))
    run = make_run(run_dir)
    with pytest.raises(
        ValueError, match="No readable checkpoint .*ckpt-6, ckpt-4, ckpt-2"
    ):
        run.train(8)
    # Nothing was rotated away or overwritten.
    assert len(checkpoint_files.complete(str(run_dir))) == 3


def test_crash_before_the_index_keeps_the_previous_state(
    run_dir, make_run, monkeypatch
):
    run = make_run(run_dir)
    run.restore()
    run.global_step.assign(7)
    rename = tf.io.gfile.rename

    def crash_on_index(src, dst, overwrite=False):
        if dst.endswith("ckpt-7.index"):
            raise OSError("simulated crash")
        return rename(src, dst, overwrite)

    monkeypatch.setattr(tf.io.gfile, "rename", crash_on_index)
    with pytest.raises(OSError, match="simulated crash"):
        run.save_checkpoint()
    monkeypatch.undo()
    assert not (run_dir / "ckpt-7.index").exists()
    assert tf.train.latest_checkpoint(str(run_dir)).endswith("ckpt-6")
    assert make_run(run_dir).restore().endswith("ckpt-6")


def test_damaged_best_falls_back_to_the_previous_best(
    run_dir, make_run, caplog
):
    run = make_run(run_dir)
    run.restore()  # step 6
    first = [np.array(v) for v in run.model.weights]
    run.checkpoints.save_best(6, {"loss/total": 2.0})
    run.train(8)
    run.checkpoints.save_best(8, {"loss/total": 1.0})
    best = run.checkpoints.best_candidates()
    assert [os.path.basename(p) for p in best] == ["ckpt-8", "ckpt-6"]
    _truncate(_data_file(best[0]))

    def read(path):
        state = tf.train.load_checkpoint(path)
        return {
            n: state.get_tensor(n) for n in state.get_variable_to_shape_map()
        }

    with caplog.at_level(logging.WARNING):
        path, _ = run.checkpoints.read_best(read)
    assert path.endswith("ckpt-6")
    (line,) = [
        m
        for m in (r.getMessage() for r in caplog.records)
        if "Best checkpoint" in m
    ]
    assert "ckpt-8" in line
    # RestoreBest's loader takes the same fallback: the weights of step 6.
    from tfmtl.trainers.restore_best import RestoreBest

    assert RestoreBest().restore_model(run.context).endswith("ckpt-6")
    for a, b in zip(first, run.model.weights):
        np.testing.assert_array_equal(a, np.array(b))
