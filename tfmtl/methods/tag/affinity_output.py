"""Writes an `AffinityRecorder`'s averages: file, heatmap, TensorBoard.

`affinity.json` (see `affinity_file`) and `affinity.png` in `model_dir`;
TensorBoard scalars `affinity/<target>/<source>` (combined sources named
`a+b`), the `affinity` heatmap, and with a per-epoch history
`affinity_epoch/<target>/<source>` and the `affinity_epoch` heatmap at
each epoch's last step.
"""

import os

from tfmtl.methods.tag.affinity_file import save_affinity
from tfmtl.methods.tag.affinity_sources import source_name
from tfmtl.trainers import summaries


def pair_scalars(prefix, tasks, sets, matrix):
    """`{prefix/<target>/<source>: matrix[target, source]}` for the
    sources `sets` (tuples of task indices) in column order."""
    return {
        f"{prefix}/{t}/{source_name(tasks, members)}": matrix[i, j]
        for i, t in enumerate(tasks)
        for j, members in enumerate(sets)
    }


def write_affinity(recorder, step, context):
    """The running averages at `step`: TensorBoard, then (chief) files."""
    tasks, k = recorder.tasks, len(recorder.tasks)
    matrix = recorder.matrix()
    values = pair_scalars("affinity", tasks, recorder.source_sets[:k], matrix)
    extra = {}
    if recorder.source_total is not None:
        combined = recorder.source_sets[k:]
        source_matrix = recorder.source_matrix()
        extra["sources"] = [[tasks[i] for i in m] for m in combined]
        extra["source_matrix"] = source_matrix
        values.update(pair_scalars("affinity", tasks, combined, source_matrix))
    image = summaries.heatmap(matrix)
    context.writer.scalars("train", values, step)
    context.writer.images("train", {"affinity": image[None]}, step)
    if recorder.history is not None:
        write_epochs(recorder, step, context)
        extra["history"] = recorder.history.to_json(k)
    if context.is_chief:
        path = os.path.join(context.model_dir, recorder.filename)
        save_affinity(
            path,
            list(tasks),
            matrix.tolist(),
            kind=recorder.kind,
            steps=int(recorder.count.numpy()),
            **extra,
        )
        summaries.save_png(os.path.splitext(path)[0] + ".png", image)


def write_epochs(recorder, step, context, final=False):
    """TensorBoard: each complete epoch once, at its last step; with
    `final` also the partial last one (not marked written)."""
    history, k = recorder.history, len(recorder.tasks)
    spe = history.steps_per_epoch
    for epoch, _, mean in history.epochs():
        end = (epoch + 1) * spe
        complete = step >= end
        if epoch < int(history.written.numpy()) or not (complete or final):
            continue
        at = min(end, step)
        values = pair_scalars(
            "affinity_epoch", recorder.tasks, recorder.source_sets, mean
        )
        image = summaries.heatmap(mean[:, :k])
        context.writer.scalars("train", values, at)
        context.writer.images("train", {"affinity_epoch": image[None]}, at)
        if complete:
            history.written.assign(epoch + 1)
