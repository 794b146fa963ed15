r"""Benchmarks, printed as ratios measured side by side in one run.

Suites:
  precision  Training examples/s of HardSharing ResNet-18 on 64x64 synthetic
             scenes, float32 vs mixed_bfloat16, next to the machine's measured
             matmul peak in both precisions.
  weighting  Step time of every weighting method relative to equal weights,
             for K = 3 and K = 9 tasks (representation Gramians).
  tag        TAG's cost: the time of a step that measures lookahead affinity
             relative to a plain step, and the amortised overhead of a run
             that measures every 10 steps.

Usage:
  python scripts/benchmark.py --suite=precision --steps=20
  python scripts/benchmark.py --suite=weighting --steps=10
  python scripts/benchmark.py --suite=tag --steps=20
"""

import functools
import inspect
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

from tfmtl import weighting as weighting_lib  # noqa: E402
from tfmtl.grouping.affinity_recorder import AffinityRecorder  # noqa: E402
from tfmtl.testing import tiny_problem  # noqa: E402
from tfmtl.trainers import Controller  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum(
    "suite", "precision", ["precision", "weighting", "tag"], "Suite."
)
flags.DEFINE_integer("steps", 20, "Timed steps per configuration.")
flags.DEFINE_integer("warmup", 3, "Untimed steps (tracing) first.")
flags.DEFINE_integer("batch_size", 32, "Global batch size.")
flags.DEFINE_integer("image_size", 64, "Image side for the precision suite.")

ATTRIBUTES = (
    "attr_a0",
    "attr_a1",
    "attr_a2",
    "attr_b0",
    "attr_b1",
    "attr_b2",
    "attr_c0",
    "attr_c1",
)


def matmul_tflops(dtype, n=2048, repeats=10):
    """Measured dense matmul throughput in TFLOP/s."""
    a = tf.random.uniform((n, n), dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(tf.transpose(a), dtype)
    fn = tf.function(lambda x, y: tf.matmul(x, y))
    fn(a, b).numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn(a, b)
    out.numpy()
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e12


def time_steps(controller, steps, warmup):
    """Seconds per training step after `warmup` untimed steps."""
    controller.train(warmup)
    start = time.perf_counter()
    controller.train(warmup + steps)
    return (time.perf_counter() - start) / steps


def run_controller(problem, steps, warmup, **kwargs):
    with tempfile.TemporaryDirectory() as model_dir:
        controller = Controller(
            model_dir=model_dir,
            summary_every=10**9,
            checkpoint_every=10**9,
            **problem,
            **kwargs,
        )
        seconds = time_steps(controller, steps, warmup)
    keras.mixed_precision.set_global_policy("float32")
    keras.backend.clear_session()
    return seconds


def precision_suite():
    rows = []
    for policy in (None, "mixed_bfloat16"):
        problem = tiny_problem(
            tasks=("segmentation", "depth", "normals", "attr_a0", "attr_b0"),
            image_size=FLAGS.image_size,
            widths=(64, 128, 256, 512),
            global_batch_size=FLAGS.batch_size,
            num_train=FLAGS.batch_size * (FLAGS.steps + FLAGS.warmup + 1),
        )
        seconds = run_controller(
            problem, FLAGS.steps, FLAGS.warmup, mixed_precision=policy
        )
        rows.append((policy or "float32", FLAGS.batch_size / seconds))
    peak32 = matmul_tflops(tf.float32)
    peak16 = matmul_tflops(tf.bfloat16)
    print(
        f"\nHardSharing ResNet-18, {FLAGS.image_size}x{FLAGS.image_size}, "
        f"batch {FLAGS.batch_size}, {FLAGS.steps} steps"
    )
    print(f"{'precision':<16}{'examples/s':>12}{'ratio':>8}")
    for name, rate in rows:
        print(f"{name:<16}{rate:>12.1f}{rate / rows[0][1]:>8.2f}")
    print(
        f"matmul peak: float32 {peak32:.2f} TFLOP/s, bfloat16 "
        f"{peak16:.2f} TFLOP/s (ratio {peak16 / peak32:.2f})"
    )


def weighting_suite():
    for tasks in (ATTRIBUTES[:2] + ("depth",), ATTRIBUTES + ("depth",)):
        problem_kwargs = dict(
            tasks=tasks,
            image_size=32,
            widths=(16, 32, 64, 64),
            global_batch_size=FLAGS.batch_size,
            num_train=FLAGS.batch_size * (FLAGS.steps + FLAGS.warmup + 1),
        )
        times = {}
        for name, cls in weighting_lib.ALL.items():
            variants = {name: cls}
            if "gradients" in inspect.signature(cls).parameters:
                # Gradient methods: with each source of the Gramian.
                variants = {
                    f"{name}[{source[:3]}]": functools.partial(
                        cls, gradients=source
                    )
                    for source in ("representation", "parameters")
                }
            for label, factory in variants.items():
                times[label] = run_controller(
                    tiny_problem(**problem_kwargs),
                    FLAGS.steps,
                    FLAGS.warmup,
                    weighting=factory,
                )
        base = times["ew"]
        print(
            f"\nK = {len(tasks)} tasks: step time relative to ew "
            f"({base * 1000:.1f} ms/step); [rep] / [par]: Gramian of the "
            "representation / shared-parameter gradients"
        )
        for name, seconds in sorted(times.items(), key=lambda kv: kv[1]):
            print(f"  {name:<20}{seconds / base:>6.2f}x")


def tag_suite():
    tasks = ATTRIBUTES + ("depth",)
    problem_kwargs = dict(
        tasks=tasks,
        image_size=32,
        widths=(16, 32, 64, 64),
        global_batch_size=FLAGS.batch_size,
        num_train=FLAGS.batch_size * (FLAGS.steps + FLAGS.warmup + 1),
    )
    # every_n_steps=1 times steps that all measure affinity; 10 is the
    # paper's amortised setting (the warm-up traces both step variants).
    plain = run_controller(
        tiny_problem(**problem_kwargs), FLAGS.steps, FLAGS.warmup
    )
    every = run_controller(
        tiny_problem(**problem_kwargs),
        FLAGS.steps,
        FLAGS.warmup,
        actions=[AffinityRecorder(every_n_steps=1, write_every=10**9)],
    )
    amortised = run_controller(
        tiny_problem(**problem_kwargs),
        FLAGS.steps,
        max(FLAGS.warmup, 10),
        actions=[AffinityRecorder(every_n_steps=10, write_every=10**9)],
    )
    print(
        f"\nTAG lookahead affinity, K = {len(tasks)} tasks "
        f"(plain step {plain * 1000:.1f} ms)"
    )
    print(f"  affinity step / plain step      {every / plain:6.2f}x")
    print(f"  run measuring every 10 steps    {amortised / plain:6.2f}x")


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    np.set_printoptions(precision=3)
    suites = {
        "precision": precision_suite,
        "weighting": weighting_suite,
        "tag": tag_suite,
    }
    suites[FLAGS.suite]()


if __name__ == "__main__":
    app.run(main)
