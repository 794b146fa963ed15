"""TAG's inter-task affinity, recorded inside the training loop.

Fifty et al., "Efficiently Identifying Task Groupings for Multi-Task
Learning", NeurIPS 2021 (arXiv 2109.04617); checked against the CelebA colab
and the Taskonomy patch of google-research/google-research `tag/`.

Every `every_n_steps` steps, on the step's own training batch and before the
update, each task i takes a lookahead step on the shared parameters alone,
and every task's loss is measured again with the heads unchanged:

    Z[i -> j] = 1 - L_j(theta_s - eta * g_i) / L_j(theta_s)   (divided by eta)

The looked-ahead forward pass runs through Keras 3 `stateless_call`, so
neither the real weights nor the BatchNorm moving statistics change. The
averages over training are written to `model_dir/affinity.json` as
`A[target][source]` (see `tfmtl.methods.tag.affinity_file`), drawn as a heatmap
(TensorBoard and `affinity.png`) and logged per pair as
`affinity/<target>/<source>`. Optional: combined lookahead sources (sets
of tasks, the colab's `order`; `affinity_sources`) and the per-epoch
history (`affinity_history`), also in the file and in TensorBoard
(`affinity_epoch/<target>/<source>` at each epoch's last step).
"""

import numpy as np
import tensorflow as tf

from tfmtl.methods.tag import affinity_output
from tfmtl.methods.tag.affinity_history import AffinityHistory
from tfmtl.methods.tag.affinity_sources import SOURCES, source_sets
from tfmtl.trainers.actions import Action

LOOKAHEADS = ("sgd", "optimizer")


class AffinityRecorder(Action):
    """Records lookahead (TAG) or gradient-cosine (CS) inter-task affinity.

    Args:
        every_n_steps: Steps between affinity measurements (paper: 10; the
            CelebA colab measures every step).
        lookahead: "sgd" (the paper's theta - eta g) or "optimizer" (the
            step Keras SGD with momentum would take, as the CelebA colab).
        divide_by_lr: Divide Z by the learning rate, as both released codes
            do (rankings at a fixed learning rate are unchanged).
        kind: "tag" (lookahead) or "cs" (cosine of the shared-parameter
            gradients, kernels only, as the colab's CS baseline).
        write_every: Steps between writes of the running average.
        filename: Name of the matrix file in `model_dir`.
        enabled: False turns the recorder off (no lookahead, no file): the
            group and HOA pair runs of `tfmtl.methods.tag.groups` reuse the
            TAG configuration but are plain MTL runs, as in the paper
            (the colab's `fast_mtl` method trains groups without TAG).
        sources: "tasks" (pairwise affinity only), "tasks_and_all" (also
            a lookahead on the sum of all losses: the colab's `order=1`) or
            "subsets" (every set of 2+ tasks: the colab's `order=-1`). Each
            combined source costs one more forward pass per measurement.
            `matrix()` stays pairwise; `source_matrix()` holds the rest.
        steps_per_epoch: When set, also keep the per-epoch averages (as
            the colab's `gradient_metrics`), written to the file's
            `history` and to TensorBoard once each epoch is complete.

    Cost: with K tasks a measuring step adds K backward passes to the shared
    parameters and K forward passes, about K plain steps when the heads are
    cheap (no exact shortcut exists: each source needs its own gradient and
    its own looked-ahead forward; `LastStageAffinityRecorder` is a cheaper,
    restricted lookahead). A run that measures every N steps then costs
    about `1 + K / N` plain runs; `scripts/benchmark.py --suite=tag`
    measures it. Measuring on part of each batch saves nothing: the
    estimate's noise grows as its cost falls, like measuring less often.
    """

    name = "affinity"

    def __init__(
        self,
        every_n_steps=10,
        lookahead="sgd",
        divide_by_lr=True,
        kind="tag",
        write_every=100,
        filename="affinity.json",
        enabled=True,
        sources="tasks",
        steps_per_epoch=None,
    ):
        super().__init__(write_every, "train")
        if sources not in SOURCES:
            raise ValueError(f"sources must be one of {SOURCES}")
        if steps_per_epoch is not None and int(steps_per_epoch) < 1:
            raise ValueError("steps_per_epoch must be >= 1 or None")
        self.sources, self.steps_per_epoch = sources, steps_per_epoch
        if lookahead not in LOOKAHEADS:
            raise ValueError(f"lookahead must be one of {LOOKAHEADS}")
        if kind not in ("tag", "cs"):
            raise ValueError("kind must be 'tag' or 'cs'")
        self.probe_every_n_steps = int(every_n_steps)
        self.lookahead, self.divide_by_lr = lookahead, divide_by_lr
        self.kind, self.filename = kind, filename
        self.enabled = bool(enabled)
        self.tasks, self.last_results = None, None

    def bind(self, context):
        """Creates the running sums (checkpointed) for the run's tasks."""
        self.tasks = tuple(context.task_names)
        k = len(self.tasks)
        self.source_sets = source_sets(k, self.sources)
        self.total = tf.Variable(np.zeros((k, k)), trainable=False)
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False)
        extra = len(self.source_sets) - k
        self.source_total = None
        if extra:
            self.source_total = tf.Variable(
                np.zeros((k, extra)), trainable=False
            )
        self.history = None
        if self.steps_per_epoch is not None and self.enabled:
            self.history = AffinityHistory(
                k, len(self.source_sets), self.steps_per_epoch
            )

    def wants(self, plan, context):
        """Affinity is measured on steps that train every task."""
        return self.enabled and tuple(plan.tasks) == self.tasks

    # ----------------------------------------------------- traced, per replica
    def replica_probe(self, context):
        """Runs per replica inside `strategy.run`; traced.

        Args:
            context: The step's `StepContext`.

        Returns sums over replicas: `before` [K] and `after` [S, K_target]
        losses (each replica holds its share of the global mean), or
        `cosine` [S, K] (identical on replicas, pre-divided); S sources,
        the K single tasks first.
        """
        replica = tf.distribute.get_replica_context()
        replicas = replica.num_replicas_in_sync
        model, plan, batch = context.model, context.plan, context.batch
        losses = context.losses
        shared = model.sharing.shared_variables()
        grads = []
        for i in range(len(plan.tasks)):
            g = context.tape.gradient(losses[i], shared)
            g = [
                tf.zeros_like(v) if d is None else d for d, v in zip(g, shared)
            ]
            if replicas > 1:
                g = replica.all_reduce("SUM", g)
            grads.append(g)
        # A combined source steps along the gradient of its summed loss.
        sources = list(grads) + [
            [tf.add_n([grads[i][n] for i in members]) for n in range(len(g))]
            for members in self.source_sets[len(grads) :]
        ]
        if self.kind == "cs":
            return {"cosine": _cosine(sources, grads, shared) / replicas}
        lr = context.learning_rate("weights")
        position = {id(v): i for i, v in enumerate(model.trainable_variables)}
        values = [v.value for v in model.trainable_variables]
        fixed = [v.value for v in model.non_trainable_variables]
        after = []
        for g in sources:
            looked = list(values)
            for v, d in zip(shared, g):
                looked[position[id(v)]] = v.value + self._step(
                    context, v, d, lr
                )
            outputs, _ = model.stateless_call(
                looked, fixed, batch["image"], tasks=plan.tasks, training=True
            )
            after.append(
                tf.stack(
                    [
                        context.task_loss(t, batch["labels"][t], outputs[t])
                        for t in plan.tasks
                    ]
                )
            )
        return {
            "before": tf.stop_gradient(tf.stack(losses)),
            "after": tf.stack(after),
            "lr": lr / replicas,
        }

    def _step(self, context, variable, gradient, lr):
        step = -lr * tf.cast(gradient, variable.dtype)
        optimizer = context.optimizer("weights")
        momentum = float(getattr(optimizer, "momentum", 0.0) or 0.0)
        if self.lookahead == "optimizer" and momentum:
            # Keras SGD: m <- mu m - lr g; w <- w + m.
            slot = context.slot("weights", variable, "momentums")
            step += momentum * slot.value
        return step

    # ------------------------------------------------------------------ host
    def record(self, step, results, context):
        """Accumulates one measurement. Runs eagerly on the host."""
        self.last_results = results
        if self.kind == "cs":
            z = results["cosine"]
        else:
            before = np.maximum(results["before"], 1e-12)
            z = 1.0 - results["after"] / before[None, :]
            if self.divide_by_lr:
                z = z / max(float(results["lr"]), 1e-12)
        # z is [source, target]; the file and sums are A[target][source].
        z = np.asarray(z, np.float64).T
        k = len(self.tasks)
        self.total.assign_add(z[:, :k])
        if self.source_total is not None:
            self.source_total.assign_add(z[:, k:])
        if self.history is not None:
            self.history.add(step, z)
        self.count.assign_add(1)

    def matrix(self):
        """The average affinity so far, `A[target][source]`."""
        return self.total.numpy() / max(int(self.count.numpy()), 1)

    def source_matrix(self):
        """Average `A[target][combined source]` [K, S - K] (None without
        combined sources); `self.source_sets[K:]` names the columns."""
        if self.source_total is None:
            return None
        return self.source_total.numpy() / max(int(self.count.numpy()), 1)

    def __call__(self, step, logs, context):
        if not self.enabled or not int(self.count.numpy()):
            return
        affinity_output.write_affinity(self, step, context)

    def finalize(self, context):
        """Writes the final average at the end of training."""
        if (
            self.enabled
            and int(self.count.numpy())
            and self.history is not None
        ):
            affinity_output.write_epochs(
                self, context.step, context, final=True
            )
        self(context.step, {}, context)


def _cosine(sources, grads, shared):
    """Cosine of each source's and each task's shared-parameter gradient,
    over kernels (rank > 1), as the colab's `cosine_sim_train_step`:
    [S, K]."""
    keep = [i for i, v in enumerate(shared) if len(v.shape) > 1]

    def unit(gradients):
        flat = tf.stack(
            [
                tf.concat([tf.reshape(g[i], [-1]) for i in keep], axis=0)
                for g in gradients
            ]
        )
        flat = tf.cast(flat, tf.float32)
        return flat / tf.maximum(tf.norm(flat, axis=1, keepdims=True), 1e-12)

    return tf.matmul(unit(sources), unit(grads), transpose_b=True)
