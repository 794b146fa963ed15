"""Visual Decathlon preprocessing: per-data-set statistics and augmentation.

The reference trains on images resized so the shorter side is 72, then
randomly cropped to 72 x 72 after 4 px of zero padding, colour-jittered
(brightness, contrast, saturation 0.3, hue 0.1), flipped horizontally
(except gtsrb, omniglot, svhn), normalised with each data set's own mean and
standard deviation, and cut out (one 18 x 18 hole). Evaluation images are
resized and center-cropped, then normalised.

Every random draw here is stateless: a function of a seed pair, so the
loader can make an example's augmentation a pure function of `(seed,
position in the stream)` and a resumed run sees the same images.
"""

import json
import os
import pickle

import numpy as np
import tensorflow as tf

#: Files in the data directory that may hold the per-data-set statistics:
#: ours (JSON `{task: {"mean": [3], "std": [3]}}`), the feature-partitioning
#: reference's pickle (`{"mean": {task: ..}, "std": {task: ..}}`) and the
#: residual-adapters devkit pickle (`{"<task>mean": .., "<task>std": ..}`).
STATS_FILES = (
    "decathlon_mean_std.json",
    "decathlon_mean_ref.p",
    "decathlon_mean_std.pickle",
)


def _from_layout(stats, task):
    if task in stats and isinstance(stats[task], dict):
        entry = stats[task]
        return entry["mean"], entry["std"]
    if "mean" in stats and task in stats["mean"]:
        return stats["mean"][task], stats["std"][task]
    if f"{task}mean" in stats:
        return stats[f"{task}mean"], stats[f"{task}std"]
    return None


def read_stats(path, tasks):
    """`{task: (mean [3], std [3])}` from a statistics file, or None.

    Returns None when the file lacks one of `tasks`.
    """
    if path.endswith(".json"):
        with open(path) as f:
            stats = json.load(f)
    else:
        # The reference's files are Python 2 pickles of numpy arrays.
        with open(path, "rb") as f:
            stats = pickle.load(f, encoding="latin1")
        stats = {
            (k.decode() if isinstance(k, bytes) else k): v
            for k, v in stats.items()
        }
    out = {}
    for task in tasks:
        entry = _from_layout(stats, task)
        if entry is None:
            return None
        mean, std = (np.asarray(x, np.float32).reshape(3) for x in entry)
        if np.any(std <= 0):
            raise ValueError(f"{path}: non-positive std for {task}.")
        out[task] = (mean, std)
    return out


def find_stats(data_dir, tasks):
    """The statistics of `tasks` from the first matching file in data_dir."""
    if not data_dir:
        return None
    for name in STATS_FILES:
        path = os.path.join(data_dir, name)
        if os.path.exists(path):
            stats = read_stats(path, tasks)
            if stats is not None:
                return stats
    return None


def write_stats(path, stats):
    """Writes `{task: (mean, std)}` as the JSON layout of `STATS_FILES`."""
    data = {
        t: {"mean": np.asarray(m).tolist(), "std": np.asarray(s).tolist()}
        for t, (m, s) in stats.items()
    }
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=1)
    os.replace(path + ".tmp", path)


def image_mean_std(images):
    """Per-channel mean and std over an iterable of [H, W, 3] images."""
    total = np.zeros(3)
    squares = np.zeros(3)
    count = 0
    for image in images:
        pixels = np.asarray(image, np.float64).reshape(-1, 3)
        total += pixels.sum(0)
        squares += (pixels**2).sum(0)
        count += len(pixels)
    if not count:
        raise ValueError("No images to compute statistics from.")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 1e-12))
    return mean.astype(np.float32), std.astype(np.float32)


def _uniform(seed, low, high):
    return tf.random.stateless_uniform([], seed, low, high)


def _randint(seed, limits):
    """Integers uniform in `[0, limits)`, elementwise."""
    u = tf.random.stateless_uniform(tf.shape(limits), seed)
    value = tf.floor(u * tf.cast(limits, tf.float32))
    return tf.minimum(tf.cast(value, tf.int32), limits - 1)


def _grayscale_mean(image):
    return tf.reduce_mean(tf.image.rgb_to_grayscale(image))


def color_jitter(image, seed, strength=(0.3, 0.3, 0.3, 0.1)):
    """Random brightness, contrast, saturation (x U[1-s, 1+s]), hue shift.

    # compat: torchvision's ColorJitter applies the four in a random order;
    # here the order is fixed (brightness, contrast, saturation, hue).
    """
    brightness, contrast, saturation, hue = strength
    seeds = tf.random.experimental.stateless_split(seed, 4)
    if brightness:
        factor = _uniform(seeds[0], 1 - brightness, 1 + brightness)
        image = tf.clip_by_value(image * factor, 0.0, 1.0)
    if contrast:
        factor = _uniform(seeds[1], 1 - contrast, 1 + contrast)
        mean = _grayscale_mean(image)
        image = tf.clip_by_value((image - mean) * factor + mean, 0.0, 1.0)
    if saturation:
        factor = _uniform(seeds[2], 1 - saturation, 1 + saturation)
        gray = tf.image.rgb_to_grayscale(image)
        image = tf.clip_by_value((image - gray) * factor + gray, 0.0, 1.0)
    if hue:
        image = tf.image.adjust_hue(image, _uniform(seeds[3], -hue, hue))
    return image


def pad_and_crop(image, seed, size, padding=4):
    """Zero-pads by `padding` and crops `size` x `size` at a random offset."""
    image = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
    shape = tf.shape(image)
    offset = _randint(seed, tf.stack([shape[0], shape[1]]) - size + 1)
    return tf.slice(image, [offset[0], offset[1], 0], [size, size, 3])


def random_flip(image, seed):
    """Mirrors left-right with probability 1/2."""
    flip = tf.random.stateless_uniform([], seed) < 0.5
    return tf.cond(flip, lambda: tf.reverse(image, [1]), lambda: image)


def cutout(image, seed, length):
    """Zeroes one `length` x `length` square around a random pixel.

    As in DeVries & Taylor's code, the centre is uniform over the image and
    the square is clipped at the borders.
    """
    shape = tf.shape(image)
    centre = _randint(seed, shape[:2])
    rows = tf.range(shape[0])[:, None]
    cols = tf.range(shape[1])[None, :]
    half = length // 2
    inside = (
        (rows >= centre[0] - half)
        & (rows < centre[0] + length - half)
        & (cols >= centre[1] - half)
        & (cols < centre[1] + length - half)
    )
    return image * tf.cast(~inside, image.dtype)[..., None]
