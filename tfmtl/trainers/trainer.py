"""The training step: one traced, distributed step per plan.

`Trainer` owns the model, tasks, optimizers and weighting of a run and turns
a `Plan` into a traced distributed step. It never branches on a method's
name: everything a method needs is declared by its parts (a weighting's
`needs_gramian`, a sharing module's `variable_groups`, a regulariser's
`add_loss`).
"""

import keras
import tensorflow as tf

from tfmtl.trainers.gradient_accumulator import GradientAccumulator
from tfmtl.trainers.step_context import StepContext
from tfmtl.weighting import gramian as gramian_lib


class Trainer:
    """Traced train / eval steps under a `tf.distribute` strategy.

    Args:
        model: A built `MultiTaskModel` (variables created in the strategy's
            scope).
        tasks: Sequence of `Task`, in the model's order.
        optimizers: Dict mapping variable group to a built Keras optimizer
            (wrap in `keras.optimizers.LossScaleOptimizer` for float16).
        weighting: A built `Weighting` for `len(tasks)` tasks.
        strategy: The distribution strategy.
        global_batch_size: Examples per step summed over replicas.
        accumulation_steps: Micro-steps per optimizer update (1: update every
            step). With N > 1 each `train_step` is one micro-step on a batch
            of `global_batch_size`; every N-th applies the mean of the N
            micro-batch gradients (see `GradientAccumulator`), so N
            micro-batches make one update on N * `global_batch_size`
            examples and the optimizers' `iterations` count updates. Build
            the trainer inside the strategy's scope.
        variable_groups: Dict mapping group to its variables, as the
            optimizers were built with (`builder.variable_groups`).
    """

    def __init__(
        self,
        model,
        tasks,
        optimizers,
        weighting,
        strategy,
        global_batch_size,
        variable_groups,
        accumulation_steps=1,
    ):
        self.model, self.weighting, self.strategy = model, weighting, strategy
        self.tasks = {t.name: t for t in tasks}
        self.task_names = tuple(self.tasks)
        self.optimizers = dict(optimizers)
        self.global_batch_size = int(global_batch_size)
        self.variable_groups = self._check_groups(variable_groups)
        self._train_fns = {}
        self.accumulation_steps = int(accumulation_steps)
        if self.accumulation_steps < 1:
            raise ValueError(
                f"accumulation_steps must be >= 1, got {accumulation_steps}."
            )
        self.accumulator = None
        if self.accumulation_steps > 1:
            self.accumulator = GradientAccumulator(
                [v for vs in self.variable_groups.values() for v in vs],
                self.accumulation_steps,
            )

    def _check_groups(self, groups):
        missing = [
            g for g, v in groups.items() if v and g not in self.optimizers
        ]
        if missing:
            raise ValueError(
                f"No optimizer for variable groups {missing}; optimizers are "
                f"given for {sorted(self.optimizers)}."
            )
        return groups

    def check_plan(self, plan):
        """Raises ValueError if a plan names unknown tasks or groups."""
        unknown = [t for t in plan.tasks if t not in self.tasks]
        if unknown:
            raise ValueError(
                f"Schedule uses unknown tasks {unknown}; tasks are "
                f"{list(self.task_names)}."
            )
        bad = [g for g in plan.groups if g not in self.optimizers]
        if bad:
            raise ValueError(
                f"Schedule updates groups {bad} that have no optimizer "
                f"(optimizers: {sorted(self.optimizers)})."
            )
        subset = tuple(plan.tasks) != self.task_names
        if subset and not getattr(
            self.weighting, "supports_task_subsets", False
        ):
            raise ValueError(
                f"The schedule trains the task subset {list(plan.tasks)}, "
                f"but {type(self.weighting).__name__} weights all "
                f"{len(self.task_names)} tasks together; use a schedule "
                "that trains every task at once, or equal weighting (EW)."
            )

    # ------------------------------------------------------------------ train
    def train_step(self, iterator, plan, probes=()):
        """Runs one distributed training step; returns host-side logs.

        Runs eagerly on the host; the step itself is traced once per plan
        and set of probes (and, with gradient accumulation, for accumulating
        and for updating micro-steps).

        Args:
            iterator: Distributed iterator of training batches.
            plan: The step's `Plan`.
            probes: Objects with `name` and `replica_probe(context) ->
                {key: tensor}` (`context`: a `StepContext` with the model,
                batch, plan, tape and per-task losses), run per replica on
                the step's batch before the update (e.g. TAG's lookahead
                affinity). Their outputs are summed over replicas and
                returned under `probe/<name>/<key>`.
        """
        # The host decides whether this micro-step updates, so the optimizer
        # (and its cross-replica merge_call) never runs under a `cond`.
        update = self.accumulator is None or self.accumulator.is_update_step()
        key = (plan, tuple(id(p) for p in probes), update)
        if key not in self._train_fns:
            self.check_plan(plan)

            @tf.function
            def step_fn(it):
                batch = next(it)
                sums, means = self.strategy.run(
                    self._replica_train_step,
                    args=(batch, plan, probes, update),
                )
                reduce = self.strategy.reduce
                out = {k: reduce("SUM", v, axis=None) for k, v in sums.items()}
                out.update(
                    {k: reduce("MEAN", v, axis=None) for k, v in means.items()}
                )
                return out

            self._train_fns[key] = step_fn
        logs = self._train_fns[key](iterator)
        if self.accumulator is not None:
            self.accumulator.advance()
        return logs

    def _replica_train_step(self, batch, plan, probes=(), update=True):
        """One step on one replica. Runs inside `strategy.run`; traced."""
        joint = plan.tasks == self.task_names
        needs = self.weighting.needs_gramian if joint else None
        variables = [v for g in plan.groups for v in self.variable_groups[g]]
        scaling = any(
            isinstance(self.optimizers[g], keras.optimizers.LossScaleOptimizer)
            for g in plan.groups
        )
        per_task_grads = joint and getattr(
            self.weighting, "needs_per_task_gradients", False
        )
        persistent = bool(needs) or scaling or bool(probes) or per_task_grads
        with tf.GradientTape(persistent=persistent) as tape:
            outputs, features = self.model(
                batch["image"], plan=plan, training=True, return_features=True
            )
            # Per-task losses are kept as separate tensors recorded on the
            # tape: slicing a stacked vector after the tape has closed would
            # not be differentiable.
            per_task = [
                tf.nn.compute_average_loss(
                    self.tasks[t].loss(batch["labels"][t], outputs[t]),
                    global_batch_size=self.global_batch_size,
                )
                for t in plan.tasks
            ]
            local = tf.stack(per_task)
            if joint:
                gramian = None
                if needs:
                    with tape.stop_recording():
                        gramian = self._gramian(
                            tape, local, per_task, features, needs
                        )
                # Weightings take this replica's share of the losses and
                # all-reduce whatever they compute from loss values.
                objective = self.weighting(
                    local, gramian=gramian, training=True
                )
            else:
                objective = tf.reduce_sum(local)
            regularization = tf.constant(0.0)
            if self.model.losses:
                regularization = tf.nn.scale_regularization_loss(
                    tf.add_n(
                        [tf.cast(x, tf.float32) for x in self.model.losses]
                    )
                )
            objective += regularization
        sums = {}
        context = None
        if probes:
            context = StepContext(
                model=self.model,
                batch=batch,
                plan=plan,
                tape=tape,
                losses=per_task,
                tasks=self.tasks,
                global_batch_size=self.global_batch_size,
                optimizers=self.optimizers,
                variable_groups=self.variable_groups,
            )
        for probe in probes:
            results = probe.replica_probe(context)
            for k, v in results.items():
                sums[f"probe/{probe.name}/{k}"] = v
        grad_norm = self._apply(
            tape,
            objective,
            plan,
            variables,
            scaling,
            per_task if per_task_grads else None,
            update,
        )
        sums.update({f"loss/{t}": local[i] for i, t in enumerate(plan.tasks)})
        sums["loss/objective"] = objective
        sums["loss/regularization"] = regularization
        # This replica's gradient norm, averaged over replicas (the exact norm
        # on one device); the NaN guard stops on a non-finite value before a
        # bad update is checkpointed.
        means = {} if grad_norm is None else {"grad_norm": grad_norm}
        if joint:
            w = tf.convert_to_tensor(self.weighting.task_weights)
            for i, t in enumerate(plan.tasks):
                means[f"weight/{t}"] = tf.cast(w[i], tf.float32)
        return sums, means

    def _gramian(self, tape, local, per_task, features, needs):
        if needs == "representation":
            # The separate per-task losses: each task's backward then runs
            # through its own head only.
            unique = list({id(f): f for f in features.values()}.values())
            return gramian_lib.representation_gramian(tape, per_task, unique)
        shared = self.model.sharing.shared_variables()
        return gramian_lib.parameter_gramian(tape, local, shared)

    def _apply(
        self, tape, objective, plan, variables, scaling, per_task, update
    ):
        if not scaling:
            grads = tape.gradient(objective, variables)
            if per_task is not None:
                grads = self._transformed(tape, per_task, variables, grads)
        else:
            grads = []
            for g in plan.groups:
                opt, group = self.optimizers[g], self.variable_groups[g]
                scaled = (
                    opt.scale_loss(objective)
                    if isinstance(opt, keras.optimizers.LossScaleOptimizer)
                    else objective
                )
                grads += tape.gradient(scaled, group)
        start = 0
        for g in plan.groups:
            group = self.variable_groups[g]
            pairs = [
                (gr, v)
                for gr, v in zip(grads[start : start + len(group)], group)
                if gr is not None
            ]
            start += len(group)
            if self.accumulator is not None:
                self.accumulator.add(pairs)
                # The update step applies the whole window's mean, also to
                # variables this micro-step's plan did not reach.
                pairs = self.accumulator.take(group) if update else []
            if pairs:
                self.optimizers[g].apply_gradients(pairs)
        present = [g for g in grads if g is not None]
        if scaling:
            # Scaled float16 gradients may overflow by design (the loss scale
            # optimizer then skips the step), so no norm is reported.
            return None
        if not present:
            return tf.constant(0.0)
        return tf.linalg.global_norm([tf.cast(g, tf.float32) for g in present])

    def _transformed(self, tape, per_task, variables, grads):
        """Shared-variable gradients from `weighting.transform_gradients`.

        The escape hatch for weightings that act per coordinate (GradDrop):
        they get each task's gradient of the shared variables; every other
        variable keeps the gradient of the weighting's objective.
        """
        ids = {id(v) for v in self.model.sharing.shared_variables()}
        shared = [v for v in variables if id(v) in ids]
        if not shared:
            return grads
        combined = self.weighting.transform_gradients(
            [tape.gradient(loss, shared) for loss in per_task]
        )
        by_id = dict(zip((id(v) for v in shared), combined))
        return [by_id.get(id(v), g) for v, g in zip(variables, grads)]
