"""Visual Decathlon test-server submission file.

The server takes one JSON list of `{"image_id": int, "category_id": int}`
over the test images of all tasks; the image ids are those of the devkit's
`annotations/<task>_test_stripped.json` and the category ids those of its
`categories` (the feature partitioning reference,
`util/prepare_submission.py` of github.com/google/multi-task-architecture-
search, writes it as `test_submission.json`).
"""

import json

from tfmtl.data.decathlon_records import annotation_file


def submission_entries(annotations, predictions):
    """Submission entries of tasks from their annotations and predictions.

    Args:
        annotations: `{task: devkit annotation dict}` (with `images` and
            `categories`).
        predictions: `{task: sequence of int}`, one predicted class index
            per image, in the order of that task's `images`. Class index i
            is the i-th smallest category id, the labels of
            `tfmtl.data.decathlon_records.devkit_files` (the reference takes
            the i-th listed category; the devkit lists them by id).

    Returns:
        list of `{"image_id", "category_id"}` dicts, task by task.

    Raises:
        ValueError: a task without annotations, a prediction count that is
            not the number of images, or a class index out of range.
    """
    entries = []
    for task, predicted in predictions.items():
        if task not in annotations:
            raise ValueError(f"No annotations for task {task!r}.")
        meta = annotations[task]
        images = meta["images"]
        categories = sorted(c["id"] for c in meta["categories"])
        predicted = [int(p) for p in predicted]
        if len(predicted) != len(images):
            raise ValueError(
                f"{task!r}: {len(predicted)} predictions for "
                f"{len(images)} test images."
            )
        for image, label in zip(images, predicted):
            if not 0 <= label < len(categories):
                raise ValueError(
                    f"{task!r}: class index {label} outside "
                    f"[0, {len(categories)})."
                )
            entries.append(
                {"image_id": int(image["id"]), "category_id": categories[label]}
            )
    return entries


def write_submission(data_dir, predictions, path):
    """Writes the submission JSON of `predictions` to `path`.

    Args:
        data_dir: the Decathlon devkit root (with `annotations/`).
        predictions: `{task: class indices}` as in `submission_entries`.
        path: output file, e.g. `test_submission.json`.

    Returns:
        The number of entries written.
    """
    annotations = {}
    for task in predictions:
        with open(annotation_file(data_dir, "test", task)) as f:
            annotations[task] = json.load(f)
    entries = submission_entries(annotations, predictions)
    with open(path, "w") as f:
        json.dump(entries, f)
    return len(entries)
