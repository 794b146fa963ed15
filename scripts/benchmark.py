r"""Benchmarks, printed as ratios measured side by side in one run.

Suites:
  precision  Training examples/s of HardSharing ResNet-18 on 64x64 synthetic
             scenes, float32 vs mixed_bfloat16, with Keras' batch norm and
             the fused one (`--norms`), next to the machine's measured
             matmul peak in both precisions.
  weighting  Step time of every weighting method relative to equal weights,
             for K = 3 and K = 9 tasks, with representation and parameter
             Gramians (median per-step time of each run; `--rounds` repeats
             the runs and reports median ratios within rounds).
  tag        TAG's cost, inside one run: steps that measure lookahead
             affinity against the plain steps between them, and the
             amortised overhead for several measuring intervals, for the
             exact lookahead and the fast (last-stage) mode.
  peers      The precision and weighting cases next to their PyTorch (and
             LibMTL) equivalents, each side in its own process, interleaved
             (`scripts/benchmark_peers.py`; needs `--peer_python`, an
             interpreter with torch and LibMTL; CI never runs it).
  measure    One case in this process, printed as a JSON line (what the
             peers suite starts).

Per-step times come from a clock action that stamps the end of every step,
so tracing, start-up and checkpointing are excluded.

Usage:
  python scripts/benchmark.py --suite=precision --steps=20
  python scripts/benchmark.py --suite=weighting --steps=10
  python scripts/benchmark.py --suite=weighting --methods=pcgrad,mgda,cagrad \\
      --rounds=3
  python scripts/benchmark.py --suite=weighting --gramians=representation \\
      --methods=upgrad,dualproj,config,fairgrad,db_mtl,moco,stch,excess_mtl,\\
sdmgrad,gls --steps=5
  python scripts/benchmark.py --suite=tag --steps=20
  python scripts/benchmark.py --suite=peers --rounds=3 \\
      --peer_python=/path/to/torch-venv/bin/python
"""

import functools
import inspect
import os
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import benchmark_peers  # noqa: E402 (scripts/ is on the path; its flags)
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags, logging  # noqa: E402

import tfmtl.models.layers  # noqa: E402, F401 (registers the norms)
from tfmtl import weighting as weighting_lib  # noqa: E402
from tfmtl.methods.tag.affinity_recorder import AffinityRecorder  # noqa: E402
from tfmtl.methods.tag.last_stage_affinity_recorder import (  # noqa: E402
    LastStageAffinityRecorder,
)
from tfmtl.testing import tiny_problem  # noqa: E402
from tfmtl.trainers import build_controller  # noqa: E402
from tfmtl.trainers.actions import Action  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum(
    "suite",
    "precision",
    ["precision", "weighting", "tag", "peers", "measure"],
    "Suite.",
)
flags.DEFINE_integer("steps", 20, "Timed steps per configuration.")
flags.DEFINE_integer("warmup", 3, "Untimed steps (tracing) first.")
flags.DEFINE_integer("batch_size", 32, "Global batch size.")
flags.DEFINE_integer("image_size", 64, "Image side for the precision suite.")
flags.DEFINE_list(
    "norms",
    ["BatchNormalization", "tfmtl>FusedBatchNormalization"],
    "Precision suite: batch-norm classes of the backbone to time.",
)
flags.DEFINE_integer("rounds", 1, "Weighting suite: rounds over the methods.")
flags.DEFINE_list(
    "methods",
    None,
    "Weighting suite: methods to time (default all); ew always.",
)
flags.DEFINE_list(
    "gramians",
    ["representation", "parameters"],
    "Weighting suite: Gramian sources to time the gradient methods with.",
)

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


class StepClock(Action):
    """Records the host time at the end of every step.

    The controller reads each step's logs back to the host, so consecutive
    stamps bracket exactly one step, including its synchronisation.
    """

    def __init__(self):
        super().__init__(1, "train")
        self.stamps = {}

    def __call__(self, step, logs, controller):
        self.stamps[step] = time.perf_counter()

    def durations(self, first):
        """`{step: seconds}` for the steps after `first`."""
        return {
            s: t - self.stamps[s - 1]
            for s, t in self.stamps.items()
            if s > first and s - 1 in self.stamps
        }


def step_times(problem, steps, warmup, actions=(), info=None, **kwargs):
    """`{step: seconds}` of one run; the first `warmup` steps (tracing) are
    left out. `info`, a dict, receives the trainable parameter count."""
    clock = StepClock()
    with tempfile.TemporaryDirectory() as model_dir:
        controller = build_controller(
            model_dir=model_dir,
            summary_every=10**9,
            checkpoint_every=10**9,
            actions=[*actions, clock],
            **problem,
            **kwargs,
        )
        controller.train(warmup + steps)
        if info is not None:
            info["parameters"] = sum(
                int(np.prod(w.shape))
                for w in controller.model.trainable_weights
            )
    keras.mixed_precision.set_global_policy("float32")
    keras.backend.clear_session()
    return clock.durations(warmup)


def run_controller(problem, steps, warmup, **kwargs):
    """Median seconds per training step of one run."""
    return float(
        np.median(list(step_times(problem, steps, warmup, **kwargs).values()))
    )


def precision_suite():
    rows = []
    for policy in (None, "mixed_bfloat16"):
        for norm in FLAGS.norms:
            problem = tiny_problem(
                tasks=(
                    "segmentation",
                    "depth",
                    "normals",
                    "attr_a0",
                    "attr_b0",
                ),
                image_size=FLAGS.image_size,
                widths=(64, 128, 256, 512),
                global_batch_size=FLAGS.batch_size,
                num_train=FLAGS.batch_size * (FLAGS.steps + FLAGS.warmup + 1),
                norm=norm,
            )
            seconds = run_controller(
                problem, FLAGS.steps, FLAGS.warmup, mixed_precision=policy
            )
            name = f"{policy or 'float32'} {norm.split('>')[-1]}"
            rows.append((name, FLAGS.batch_size / seconds))
    peak32 = matmul_tflops(tf.float32)
    peak16 = matmul_tflops(tf.bfloat16)
    print(
        f"\nHardSharing ResNet-18, {FLAGS.image_size}x{FLAGS.image_size}, "
        f"batch {FLAGS.batch_size}, {FLAGS.steps} steps"
    )
    print(f"{'precision, norm':<40}{'examples/s':>12}{'ratio':>8}")
    for name, rate in rows:
        print(f"{name:<40}{rate:>12.1f}{rate / rows[0][1]:>8.2f}")
    print(
        f"matmul peak: float32 {peak32:.2f} TFLOP/s, bfloat16 "
        f"{peak16:.2f} TFLOP/s (ratio {peak16 / peak32:.2f})"
    )


def _weighting_variants():
    """`{label: factory}`: every method, gradient methods (a `gradients`
    argument, or a Gramian-reading class such as every `GramianWeighting`)
    with each source of `--gramians`, filtered by `--methods`."""
    wanted = set(FLAGS.methods or weighting_lib.ALL)
    variants = {}
    for name, cls in weighting_lib.ALL.items():
        if name not in wanted and name != "ew":
            continue
        reads_gramian = cls.needs_gramian is not None or (
            "gradients" in inspect.signature(cls).parameters
        )
        if reads_gramian:
            for source in FLAGS.gramians:
                variants[f"{name}[{source[:3]}]"] = functools.partial(
                    cls, gradients=source
                )
        else:
            variants[name] = cls
    return variants


def _problem(tasks, num_batches):
    """`tiny_problem` arguments of the suites: 32 px, ResNet-18 widths
    16-64, `num_batches` batches of training data."""
    return dict(
        tasks=tasks,
        image_size=32,
        widths=(16, 32, 64, 64),
        global_batch_size=FLAGS.batch_size,
        num_train=FLAGS.batch_size * num_batches,
    )


def weighting_suite():
    """Rounds of one run per method; each round's times are divided by the
    same round's EW time, and the median ratio over rounds is printed, so a
    slow drift of the machine's load cancels."""
    variants = _weighting_variants()
    for tasks in (ATTRIBUTES[:2] + ("depth",), ATTRIBUTES + ("depth",)):
        problem_kwargs = _problem(tasks, FLAGS.steps + FLAGS.warmup + 1)
        ratios, base = {label: [] for label in variants}, []
        for _ in range(FLAGS.rounds):
            times = {
                label: run_controller(
                    tiny_problem(**problem_kwargs),
                    FLAGS.steps,
                    FLAGS.warmup,
                    weighting=factory,
                )
                for label, factory in variants.items()
            }
            base.append(times["ew"])
            for label, seconds in times.items():
                ratios[label].append(seconds / times["ew"])
        print(
            f"\nK = {len(tasks)} tasks: step time relative to ew "
            f"({np.median(base) * 1000:.1f} ms/step; median of "
            f"{FLAGS.rounds} round(s)); [rep] / [par]: Gramian of the "
            "representation / shared-parameter gradients"
        )
        medians = {k: float(np.median(v)) for k, v in ratios.items()}
        for label, ratio in sorted(medians.items(), key=lambda kv: kv[1]):
            spread = f"{min(ratios[label]):.2f}-{max(ratios[label]):.2f}"
            print(f"  {label:<20}{ratio:>6.2f}x   (rounds: {spread})")


def tag_suite():
    """TAG's cost, measured inside one run per K: the steps that measure
    affinity against the plain steps between them (same model, same load),
    and the amortised overhead that follows for each measuring interval."""
    every = 10
    steps = max(FLAGS.steps, 3 * every)
    steps -= steps % every
    modes = (("exact", AffinityRecorder), ("fast", LastStageAffinityRecorder))
    for tasks in (ATTRIBUTES[:2] + ("depth",), ATTRIBUTES + ("depth",)):
        for mode, recorder_cls in modes:
            _tag_mode(tasks, steps, every, mode, recorder_cls)


def _tag_mode(tasks, steps, every, mode, recorder_cls):
    """One timed run of `tag_suite` with one recorder class."""
    problem_kwargs = _problem(tasks, steps + 2 * every)
    recorder = recorder_cls(every_n_steps=every, write_every=10**9)
    # The warm-up ends on a measuring step, so both step variants are
    # traced before the clock starts.
    times = step_times(
        tiny_problem(**problem_kwargs), steps, every, actions=[recorder]
    )
    affinity = np.median([t for s, t in times.items() if s % every == 0])
    plain = np.median([t for s, t in times.items() if s % every])
    measured = np.mean(list(times.values())) / plain
    ratio = affinity / plain
    k = len(tasks)
    print(
        f"\nTAG lookahead affinity ({mode}), K = {k} tasks, one run of "
        f"{steps} steps (plain step {plain * 1000:.1f} ms)"
    )
    print(f"  affinity step / plain step            {ratio:6.2f}x")
    if mode == "exact":
        print(
            f"  (cost model: about 1 + K = {1 + k}x when the heads are "
            "cheap: each source task adds a backward and a forward pass)"
        )
    print(f"  this run, measuring every {every} steps    {measured:6.2f}x")
    for n in (1, 10, 20, 30, 50):
        print(
            f"  every_n_steps={n:<3} amortised             "
            f"{1 + (ratio - 1) / n:6.2f}x"
        )


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    np.set_printoptions(precision=3)
    suites = {
        "precision": precision_suite,
        "weighting": weighting_suite,
        "tag": tag_suite,
    }
    if FLAGS.suite in ("peers", "measure"):
        if FLAGS.suite == "measure":
            return benchmark_peers.measure(FLAGS, step_times, _problem)
        return benchmark_peers.peers_suite(FLAGS)
    suites[FLAGS.suite]()


if __name__ == "__main__":
    app.run(main)
