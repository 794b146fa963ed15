"""Random scale, horizontal flip and crop of images with dense labels.

Reference: the training augmentation of the AdaShare data loaders
(`dataloaders/nyu_v2_dataloader.py`, `cityscapes_dataloader.py`,
`taskonomy_dataloader.py` of github.com/sunxm2357/AdaShare; reference
notes adashare_taps.md §A4), which NDDR-CNN / MTL-NAS also use.
"""

import tensorflow as tf

NORMALS_FLIPS = ("negate", "encoded", "none")
# Per label kind: the value that pads a label. 0 marks padded depth and
# normals pixels invalid; for regression maps it is a valid value unless
# `regression_ignore_value` replaces it.
_PAD = {"depth": 0.0, "normals": 0.0, "regression": 0.0}
_DENSE = ("segmentation", "depth", "normals", "regression")


class DenseAugment:
    """Scales, flips and crops an example and all its dense labels alike.

    With a stateless seed, the three random decisions are:

    1. **Scale** by `s ~ U[scale_range)`: the image is resized bilinearly,
       every dense label with nearest-neighbour resampling, so class ids,
       the ignore label, invalid depth (0) and invalid normals (all zero)
       are never blended with their neighbours.
    2. **Horizontal flip** with probability `flip_probability`. Normals are
       mirrored too: with `normals_flip="negate"` the x component (channel
       `normals_x_channel`) of decoded unit normals changes sign; with
       "encoded" it becomes `1 - x` on valid pixels, the mirror of normals
       stored as `(n + 1) / 2` (the "adashare" encoding of
       `tfmtl.data.nyuv2.NYUv2`); "none" leaves them as they are.
    3. **Crop** to `crop_size` at a uniform random offset, after padding
       the bottom and right (or, with `center_padding`, both sides) up to
       `crop_size` when the scaled image is smaller: images with 0,
       segmentation with `ignore_label`, depth and normals with 0
       (invalid), regression maps with `regression_ignore_value` (0 when
       it is None).

    The output has the static shape `crop_size`. Image-level labels
    (binary, classification) pass through unchanged.

    Args:
        crop_size: `(height, width)` of the output.
        scale_range: `(low, high)` of the uniform scale factor; `(1, 1)`
            disables scaling.
        flip_probability: probability of a horizontal flip.
        ignore_label: segmentation value of padded pixels.
        normals_flip: one of `NORMALS_FLIPS`, see above.
        normals_x_channel: channel holding the horizontal component of the
            normals (0 for the RGB-encoded NYUv2 and Taskonomy images).
        center_padding: pad both sides (the scaled image centred, as the
            AdaShare loaders' `__random_crop_and_pad_image_and_labels__`)
            instead of the bottom and right only.
        regression_ignore_value: value padding regression maps, to be left
            out by `regression_l1(ignore_value=...)` and
            `RegressionMetrics(ignore_value=...)`; None pads with 0, which
            those count as a label. AdaShare's Taskonomy loader pads with
            255 and masks it.

    Call arguments:
        example: `{"image": [H, W, 3], "labels": {task: label}}`.
        seed: int tensor [2], the stateless seed of this example's draw.
        task_kinds: `{task: kind}` (docs/design.md) of the labels.

    Example:
    ```python
    augment = DenseAugment((321, 321))
    out = augment(example, tf.constant([0, 7]), {"segmentation":
                                                  "segmentation"})
    ```

    Reference:
        Sun et al., "AdaShare", NeurIPS 2020 (data loaders of the
        official code).
    """

    def __init__(
        self,
        crop_size,
        scale_range=(0.5, 1.5),
        flip_probability=0.5,
        ignore_label=255,
        normals_flip="negate",
        normals_x_channel=0,
        regression_ignore_value=None,
        center_padding=False,
    ):
        if normals_flip not in NORMALS_FLIPS:
            raise ValueError(
                f"normals_flip must be one of {NORMALS_FLIPS}, got "
                f"{normals_flip!r}."
            )
        low, high = (float(s) for s in scale_range)
        if not 0.0 < low <= high:
            raise ValueError(f"Bad scale_range {scale_range}.")
        self.crop_size = tuple(int(s) for s in crop_size)
        self.scale_range = (low, high)
        self.flip_probability = float(flip_probability)
        self.ignore_label = int(ignore_label)
        self.normals_flip = normals_flip
        self.normals_x_channel = int(normals_x_channel)
        self.center_padding = bool(center_padding)
        self.regression_ignore_value = (
            None
            if regression_ignore_value is None
            else float(regression_ignore_value)
        )

    def __call__(self, example, seed, task_kinds):
        seeds = tf.random.experimental.stateless_split(
            tf.cast(seed, tf.int64), 4
        )
        image = tf.convert_to_tensor(example["image"], tf.float32)
        labels = dict(example["labels"])
        dense = {t: k for t, k in task_kinds.items() if k in _DENSE}
        dense = {t: k for t, k in dense.items() if t in labels}
        # Segmentation maps get a channel axis for the image ops.
        maps = {
            t: labels[t][..., None] if k == "segmentation" else labels[t]
            for t, k in dense.items()
        }
        low, high = self.scale_range
        if low != high:
            scale = tf.random.stateless_uniform(
                [], seeds[0], minval=low, maxval=high
            )
            size = tf.cast(tf.shape(image)[:2], tf.float32) * scale
            size = tf.cast(tf.round(size), tf.int32)
            image = tf.image.resize(image, size, method="bilinear")
            image = tf.clip_by_value(image, 0.0, 1.0)
            maps = {
                t: tf.image.resize(m, size, method="nearest")
                for t, m in maps.items()
            }
        flip = tf.random.stateless_uniform([], seeds[1]) < self.flip_probability
        image = tf.where(flip, tf.reverse(image, axis=[1]), image)
        for t, kind in dense.items():
            mirrored = tf.reverse(maps[t], axis=[1])
            if kind == "normals":
                mirrored = self._mirror_normals(mirrored)
            maps[t] = tf.where(flip, mirrored, maps[t])
        image = self._crop(image, 0.0, seeds[2:])
        for t, kind in dense.items():
            pad = self._pad_value(kind)
            cropped = self._crop(maps[t], pad, seeds[2:])
            labels[t] = cropped[..., 0] if kind == "segmentation" else cropped
        return {**example, "image": image, "labels": labels}

    def _pad_value(self, kind):
        if kind == "segmentation":
            return self.ignore_label
        if kind == "regression" and self.regression_ignore_value is not None:
            return self.regression_ignore_value
        return _PAD[kind]

    def _mirror_normals(self, normals):
        """Normals of the mirrored image, given the column-reversed map.

        Reversing the columns moves every normal to its mirrored pixel; the
        mirror also reverses the horizontal axis, so the component along it
        (channel `normals_x_channel`) changes sign, whichever way that axis
        points. Only which channel is horizontal matters: channel 0 (the
        PNG's red channel, read in RGB order) for every source of the
        library: `NYUv2` ((n + 1) / 2 * 255 PNGs decoded to unit vectors, or
        kept as v / 255 with `normals_encoding="adashare"`, then flip with
        "encoded": x becomes 1 - x), `NYUv2List` (v / 127.5 - 1), `Taskonomy`
        (v / 255 * 2 - 1) and `SyntheticScenes` (x right, y up, z towards
        the camera). Invalid (all-zero) pixels stay zero.

        Args:
            normals: float tensor [H, W, 3], already column-reversed.

        Returns:
            float tensor [H, W, 3].
        """
        if self.normals_flip == "none":
            # compat: the reference loaders (AdaShare's NYUv2 loader,
            # NDDR-CNN util/img_encoder_mt.py::image_mirroring, MTL-NAS
            # core/data/loader.py) mirror the normal map but not the vectors
            # (pitfall P2); "negate" / "encoded" are correct.
            return normals
        c = self.normals_x_channel
        x = normals[..., c : c + 1]
        if self.normals_flip == "negate":
            x = -x
        else:
            valid = tf.reduce_any(tf.not_equal(normals, 0.0), axis=-1)
            x = tf.where(valid[..., None], 1.0 - x, x)
        return tf.concat([normals[..., :c], x, normals[..., c + 1 :]], -1)

    def _crop(self, tensor, pad_value, seeds):
        """Pads to the crop size (bottom / right or centred), then crops at
        random."""
        crop_h, crop_w = self.crop_size
        shape = tf.shape(tensor)
        height = tf.maximum(shape[0], crop_h)
        width = tf.maximum(shape[1], crop_w)
        top_pad, left_pad = 0, 0
        if self.center_padding:
            top_pad = (height - shape[0]) // 2
            left_pad = (width - shape[1]) // 2
        paddings = [
            [top_pad, height - shape[0] - top_pad],
            [left_pad, width - shape[1] - left_pad],
            [0, 0],
        ]
        tensor = tf.pad(
            tensor, paddings, constant_values=tf.cast(pad_value, tensor.dtype)
        )
        top = tf.random.stateless_uniform(
            [], seeds[0], maxval=height - crop_h + 1, dtype=tf.int32
        )
        left = tf.random.stateless_uniform(
            [], seeds[1], maxval=width - crop_w + 1, dtype=tf.int32
        )
        out = tensor[top : top + crop_h, left : left + crop_w]
        channels = tensor.shape[-1]
        return tf.ensure_shape(out, [crop_h, crop_w, channels])
