"""The services of a run besides its loops: step, context, checkpoints.

`build_controller` calls `run_services` once per run: it makes the global
step variable, the read-only `RunContext` that actions see, binds every
action to it (an action's `bind` may create checkpointed state, so this
happens before the checkpoint is assembled) and the `RunCheckpoints` that
save and restore all of it. The context calls the controller back for its
loop services (`evaluate`, `export`, the last evaluation) through
`RunServices.controller`, set once the controller exists.
"""

import contextlib

import tensorflow as tf

from tfmtl.trainers import run_structure
from tfmtl.trainers.actions import Evaluate, SaveCheckpoint
from tfmtl.trainers.nan_guard import NanGuard
from tfmtl.trainers.preemption import PreemptionWatch
from tfmtl.trainers.run_checkpoints import RunCheckpoints
from tfmtl.trainers.run_context import RunContext
from tfmtl.trainers.run_lock import RunLock


class RunServices:
    """The global step, `RunContext` and `RunCheckpoints` of one run.

    Args:
        trainer: The run's `Trainer`.
        schedule: The bound `Schedule`.
        streams: The run's `TrainStreams`.
        image_shape: `(H, W, C)` of one input image.
        evaluator: The run's `Evaluator`.
        writers: The run's `summaries.Writers`.
        actions: The run's extra `Action`s (bound here).
        cluster: The process's `ClusterInfo`.
        model_dir: The run's directory.
        checkpoint_dir: Where checkpoints are written and resumed from.
        max_checkpoints: Checkpoints kept.

    Example:
    ```python
    services = RunServices(trainer=..., ...)
    controller = Controller(services=services, ...)
    services.controller = controller
    ```
    """

    def __init__(
        self,
        *,
        trainer,
        schedule,
        streams,
        image_shape,
        evaluator,
        writers,
        actions,
        cluster,
        model_dir,
        checkpoint_dir,
        max_checkpoints=3,
    ):
        self.controller = None
        self.global_step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.context = RunContext(
            model=trainer.model,
            tasks=list(trainer.tasks.values()),
            schedule=schedule,
            optimizers=trainer.optimizers,
            writer=writers,
            model_dir=str(model_dir),
            is_chief=cluster.is_chief,
            image_shape=image_shape,
            train_data=streams.data,
            train_splits=streams.splits,
            checkpoints_fn=lambda: self.checkpoints,
            evaluator=evaluator,
            global_step=self.global_step,
            step_fn=lambda: int(self.global_step.numpy()),
            evaluation_fn=lambda: self.controller.last_evaluation,
            # Late-bound, so a wrapped `evaluate` is what actions call.
            evaluate_fn=lambda steps=None: self.controller.evaluate(steps),
            export_fn=lambda directory: self.controller.export(directory),
        )
        for action in actions:
            if hasattr(action, "bind"):
                action.bind(self.context)  # creates checkpointed state
        self.checkpoints = RunCheckpoints.for_run(
            trainer,
            self.global_step,
            streams.positions,
            list(actions),
            directory=checkpoint_dir,
            model_dir=str(model_dir),
            cluster=cluster,
            max_to_keep=max_checkpoints,
            structure=run_structure.describe(
                trainer.model, list(trainer.tasks.values())
            ),
        )


@contextlib.contextmanager
def training_guard(checkpoints, strategy, cluster):
    """Holds the run's lock (on the chief) and watches for SIGTERM / SIGINT
    while training; yields the `PreemptionWatch`."""
    watch = PreemptionWatch(strategy, cluster.num_workers)
    with contextlib.ExitStack() as stack:
        if cluster.is_chief:
            stack.enter_context(RunLock(checkpoints.directory).held())
        yield stack.enter_context(watch)


def loop_actions(actions, eval_every, eval_steps, checkpoint_every, guard):
    """The actions the training loop runs after each step, in order.

    The NaN guard runs before anything is saved, and evaluation (with its
    actions) before the checkpoint of the step.
    """
    loop = [guard or NanGuard()] + [a for a in actions if a.on == "train"]
    if eval_every:
        loop.append(Evaluate(eval_every, eval_steps))
    return loop + [SaveCheckpoint(checkpoint_every)]
