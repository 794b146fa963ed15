"""Decathlon submission file: the layout of the reference's
`util/prepare_submission.py` (github.com/google/multi-task-architecture-
search): a JSON list of {"image_id", "category_id"}, the image ids of
`annotations/<task>_test_stripped.json` in file order and the category id
of the predicted class, task after task."""

import json
import os

import pytest

from tfmtl.data.decathlon_records import devkit_files
from tfmtl.methods.feature_partitioning.submission import (
    submission_entries,
    write_submission,
)


def _annotations(offset, num_images, num_classes):
    # Devkit-style ids: offset * 10**7 + ... for images and classes
    # (listed out of order to check the id sort).
    categories = [
        {"id": offset * 10**7 + c + 1, "name": f"c{c}"}
        for c in reversed(range(num_classes))
    ]
    images = [
        {"id": offset * 10**7 + 500 + i, "file_name": f"data/{offset}/{i}.jpg"}
        for i in range(num_images)
    ]
    return {"images": images, "categories": categories, "annotations": []}


def test_entries_and_file(tmp_path):
    annotations = {
        "svhn": _annotations(8, 3, 10),
        "dtd": _annotations(4, 2, 47),
    }
    os.makedirs(tmp_path / "annotations")
    for task, meta in annotations.items():
        with open(
            tmp_path / "annotations" / f"{task}_test_stripped.json", "w"
        ) as f:
            json.dump(meta, f)
    predictions = {"svhn": [0, 9, 3], "dtd": [46, 0]}
    out = tmp_path / "test_submission.json"
    assert write_submission(str(tmp_path), predictions, str(out)) == 5
    with open(out) as f:
        written = json.load(f)
    assert written == [
        {"image_id": 80000500, "category_id": 80000001},
        {"image_id": 80000501, "category_id": 80000010},
        {"image_id": 80000502, "category_id": 80000004},
        {"image_id": 40000500, "category_id": 40000047},
        {"image_id": 40000501, "category_id": 40000001},
    ]
    # Class indices are the training labels of devkit_files: an image
    # annotated with the category of a submission entry reads back as the
    # predicted index.
    meta = dict(annotations["svhn"])
    meta["annotations"] = [
        {"image_id": e["image_id"], "category_id": e["category_id"]}
        for e in written[:3]
    ]
    with open(tmp_path / "annotations" / "svhn_train.json", "w") as f:
        json.dump(meta, f)
    _, labels = devkit_files(str(tmp_path), "train", "svhn")
    assert labels == predictions["svhn"]


def test_bad_predictions():
    annotations = {"svhn": _annotations(8, 3, 10)}
    with pytest.raises(ValueError, match="2 predictions for 3"):
        submission_entries(annotations, {"svhn": [0, 1]})
    with pytest.raises(ValueError, match="class index 10"):
        submission_entries(annotations, {"svhn": [0, 1, 10]})
    with pytest.raises(ValueError, match="'dtd'"):
        submission_entries(annotations, {"dtd": [0]})
