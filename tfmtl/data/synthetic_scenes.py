"""SyntheticScenes: procedural multi-task scenes with planted task relations.

Every example is rendered by TensorFlow ops from stateless random numbers
seeded by `(seed, split, index)`, so it runs inside the parallel `tf.data` map,
needs no files and is identical on every machine and every run.
"""

import math

import tensorflow as tf

from tfmtl.data.data_source import DataSource

_SPLITS = {"train": 0, "validation": 1, "test": 2}
_SHAPES = ("disc", "square", "triangle", "cross")
_DISC_SLOTS = 3  # slots 0..2 hold discs, slots 3..5 the other shapes
_SLOTS = 6
_LIGHT = (-0.4, 0.5, 1.0)  # towards the light, camera frame (x right, y up)
_FOG_GREY = 0.6
_FOG_DISTANCE = 15.0
_HUE_RANGE = 0.62  # hue of the colour factor: 0 (red) .. 0.62 (blue)
# Positive rates 0.6 / 0.5 / 0.4: quantiles of the visible disc fraction
# (measured on 20,000 training scenes) and of the colour factor.
_DISC_FRACTION_THRESHOLDS = (0.038, 0.058, 0.082)
_COLOUR_THRESHOLDS = (0.4, 0.5, 0.6)
_ATTRIBUTES = (
    "attr_a0",
    "attr_a1",
    "attr_a2",
    "attr_b0",
    "attr_b1",
    "attr_b2",
    "attr_c0",
    "attr_c1",
)


class SyntheticScenes(DataSource):
    """Procedural scenes of shapes over a tilted background plane.

    **Geometry.** An orthographic camera looks down +z at the square
    `x, y in [-1, 1]` (x to the right, y down the image rows; pixel centres
    at `(2j + 1) / S - 1`); depth is the distance along z in the same units.
    The background plane has depth `10 + gx * x + gy * y` with `gx, gy ~
    U(-0.5, 0.5)` (so depth in [9, 11]). A scene holds `n_disc ~ U{0..3}`
    discs and `n_other ~ U{1..3}` other shapes, each drawn uniformly from
    `square, triangle, cross` (the first `num_classes - 2` of them), with
    centre `~ U(-0.75, 0.75)^2`, a random size and rotation. The shapes are
    put in random front-to-back order; the r-th nearest lies in the depth
    layer `[2 + r, 2 + r + 0.8)`, so layers never interpenetrate and nearer
    shapes occlude farther ones (z-buffer). A disc of radius `R ~ U(0.2,
    0.45)` is a hemispherical dome (depth `base + R - sqrt(R^2 - rho^2)`);
    squares (half side `U(0.15, 0.35)`), triangles (equilateral, circumradius
    `U(0.25, 0.5)`) and crosses (arm half-length `U(0.2, 0.45)`, width a
    third of it) are planes tilted by slopes `tx, ty ~ U(-0.5, 0.5)`.

    **Appearance.** All shapes of a scene share the hue `0.62 * u_B` (the
    colour factor `u_B ~ U(0, 1)`), with their own saturation `U(0.55, 1)`
    and value `U(0.6, 1)`; they are Lambertian-shaded (`0.3 + 0.7 * max(0,
    n.l)`, light from the upper left front) and fogged towards grey 0.6 with
    weight `1 - exp(-depth / 15)`, which preserves the hue. The background is
    unlit grey of lightness `l ~ U(0.15, 0.85)`, darkened to `0.6 * l` on
    stripes (random angle, period and phase) in half of the scenes.

    **Tasks** (`task_kinds`):

    * `segmentation` (int32 [S, S]): 0 background, 1 disc, 2 square,
      3 triangle, 4 cross (classes below `num_classes`).
    * `depth` (float32 [S, S, 1]): z-buffer depth, in [2, 11], always > 0.
    * `normals` (float32 [S, S, 3]): unit normals facing the camera in the
      frame (x right, y up, z towards the camera), i.e.
      `normalize(dd/dx, -dd/dy, 1)` of the depth surface `d(x, y)`.
    * `edges` (float32 [S, S, 1]): 1 on object boundaries (a pixel whose
      4-neighbour shows another object or the background), else 0.
    * `attr_a0..2` (binary): visible disc fraction (`mean(segmentation ==
      1)`) above 0.038 / 0.058 / 0.082 (positive rates about .6 / .5 / .4).
    * `attr_b0..2` (binary): colour factor `u_B` above 0.4 / 0.5 / 0.6
      (shape hue above about 89 / 112 / 134 degrees).
    * `attr_c0` (binary): background lightness `l > 0.5`.
    * `attr_c1` (binary): the background is striped (a fair coin).

    **Planted relations.** The A attributes are thresholds of one latent
    factor (disc coverage), the B attributes of a second (colour), and
    `attr_c0`, `attr_c1` depend on two further independent draws, so the
    three groups are mutually independent while attributes within A and
    within B correlate (about 0.67 to 0.82); `planted_groups()` returns
    `[A, B, rest]`. Among the dense tasks, segmentation and edges both come
    from the shape layout, depth and normals both from the geometry; group A
    is also a function of the segmentation.

    Args:
        image_size: side S of the square images.
        num_train: number of training examples (indices).
        num_validation: number of validation examples.
        num_test: number of test examples.
        seed: base seed; example `i` of split `s` depends only on
            `(seed, s, i)`.
        num_classes: segmentation classes including background, 3 to 5.

    Example:

    ```python
    source = SyntheticScenes(image_size=32)
    ds = tfmtl.data.make_dataset(source, "train", ["depth", "attr_a0"], 64)
    ```
    """

    def __init__(
        self,
        image_size=64,
        num_train=20_000,
        num_validation=2_000,
        num_test=2_000,
        seed=0,
        num_classes=4,
    ):
        if not 3 <= num_classes <= len(_SHAPES) + 1:
            raise ValueError(f"num_classes must be in [3, 5], not {num_classes}")
        self.image_size = image_size
        self.num_train = num_train
        self.num_validation = num_validation
        self.num_test = num_test
        self.seed = seed
        self.num_classes = num_classes

    @property
    def task_kinds(self):
        dense = {
            "segmentation": "segmentation",
            "depth": "depth",
            "normals": "normals",
            "edges": "regression",
        }
        return {**dense, **{name: "binary" for name in _ATTRIBUTES}}

    @property
    def class_names(self):
        """Segmentation class names, index = class id."""
        return ("background",) + _SHAPES[: self.num_classes - 1]

    @staticmethod
    def planted_groups():
        """The ground-truth attribute groups: `[A, B, rest]`."""
        return [_ATTRIBUTES[0:3], _ATTRIBUTES[3:6], _ATTRIBUTES[6:8]]

    def num_examples(self, split):
        sizes = (self.num_train, self.num_validation, self.num_test)
        return sizes[self._split_id(split)]

    @staticmethod
    def _split_id(split):
        if split not in _SPLITS:
            raise ValueError(f"Unknown split {split!r}; use {list(_SPLITS)}.")
        return _SPLITS[split]

    def example(self, index, split):
        key = tf.constant([self.seed, 0x5CE7E5], tf.int64)
        key = tf.random.experimental.stateless_fold_in(key, self._split_id(split))
        key = tf.random.experimental.stateless_fold_in(
            key, tf.cast(index, tf.int64)
        )
        keys = tf.random.experimental.stateless_split(key, 2)
        g = tf.random.stateless_uniform([10], seed=keys[0])
        u = tf.random.stateless_uniform([_SLOTS, 10], seed=keys[1])
        return self._render(g, u)

    def _render(self, g, u):
        size = self.image_size
        coords = (2.0 * tf.range(size, dtype=tf.float32) + 1.0) / size - 1.0
        y, x = tf.meshgrid(coords, coords, indexing="ij")  # [S, S]
        slot = tf.range(_SLOTS)
        n_disc = tf.cast(tf.floor(4.0 * g[0]), tf.int32)
        n_other = 1 + tf.cast(tf.floor(3.0 * g[1]), tf.int32)
        active = tf.where(
            slot < _DISC_SLOTS, slot < n_disc, slot - _DISC_SLOTS < n_other
        )
        other = 2 + tf.cast(tf.floor(u[:, 9] * (self.num_classes - 2)), tf.int32)
        cls = tf.where(slot < _DISC_SLOTS, 1, other)
        # Depth layer = rank of the slot among the active ones.
        order_key = tf.where(active, u[:, 8], 2.0 + u[:, 8])
        rank = tf.argsort(tf.argsort(order_key))
        base = 2.0 + tf.cast(rank, tf.float32)

        def per_slot(column):  # [K] -> [K, 1, 1]
            return column[:, None, None]

        dx = x - per_slot(1.5 * u[:, 0] - 0.75)
        dy = y - per_slot(1.5 * u[:, 1] - 0.75)
        theta = per_slot(2.0 * math.pi * u[:, 3])
        rot_u = tf.cos(theta) * dx + tf.sin(theta) * dy
        rot_v = -tf.sin(theta) * dx + tf.cos(theta) * dy
        s = per_slot(u[:, 2])
        radius, half_side = 0.2 + 0.25 * s, 0.15 + 0.2 * s
        circum, arm = 0.25 + 0.25 * s, 0.2 + 0.25 * s
        rho2 = dx**2 + dy**2
        triangle = tf.ones_like(dx, tf.bool)
        for i in range(3):
            phi = theta + 2.0 * math.pi * i / 3.0
            inside = tf.cos(phi) * dx + tf.sin(phi) * dy < 0.5 * circum
            triangle &= inside
        au, av = tf.abs(rot_u), tf.abs(rot_v)
        masks = tf.stack(
            [
                rho2 < radius**2,
                tf.maximum(au, av) < half_side,
                triangle,
                ((au < arm) & (av < arm / 3)) | ((au < arm / 3) & (av < arm)),
            ],
            axis=-1,
        )  # [K, S, S, shape]
        pick = tf.one_hot(cls - 1, len(_SHAPES), on_value=True, off_value=False)
        mask = tf.reduce_any(masks & pick[:, None, None, :], axis=-1)
        mask &= per_slot(active)

        is_disc = per_slot(cls == 1)
        dome = tf.sqrt(tf.maximum(radius**2 - rho2, 0.0))
        tx, ty = per_slot(u[:, 4] - 0.5), per_slot(u[:, 5] - 0.5)
        plane = 0.4 + tx * dx + ty * dy
        depth_k = per_slot(base) + tf.where(is_disc, radius - dome, plane)
        disc_n = tf.stack([dx, -dy, dome], -1) / radius[..., None]
        plane_n = tf.stack([tx, -ty, tf.ones_like(tx)], -1)
        plane_n = tf.broadcast_to(plane_n, disc_n.shape)
        normal_k = tf.where(is_disc[..., None], disc_n, plane_n)

        gx, gy = g[8] - 0.5, g[9] - 0.5
        bg_depth = 10.0 + gx * x + gy * y
        bg_normal = tf.broadcast_to(tf.stack([gx, -gy, 1.0]), [size, size, 3])
        depths = tf.concat(
            [tf.where(mask, depth_k, float("inf")), bg_depth[None]], 0
        )
        winner = tf.argmin(depths, axis=0, output_type=tf.int32)  # [S, S]
        hot = tf.one_hot(winner, _SLOTS + 1)  # [S, S, K + 1]
        normals = tf.einsum(
            "hwk,khwc->hwc", hot, tf.concat([normal_k, bg_normal[None]], 0)
        )
        normals = tf.math.l2_normalize(normals, axis=-1)
        depth = tf.reduce_min(depths, axis=0)[..., None]
        seg = tf.gather(tf.concat([cls, [0]], 0), winner)

        hsv = tf.stack(
            [
                tf.fill([_SLOTS], _HUE_RANGE * g[2]),
                0.55 + 0.45 * u[:, 6],
                0.6 + 0.4 * u[:, 7],
            ],
            -1,
        )
        albedo = tf.gather(tf.image.hsv_to_rgb(hsv), tf.minimum(winner, _SLOTS - 1))
        light = tf.math.l2_normalize(tf.constant(_LIGHT), -1)
        shade = 0.3 + 0.7 * tf.nn.relu(tf.reduce_sum(normals * light, -1))
        fog = 1.0 - tf.exp(-depth / _FOG_DISTANCE)
        shapes_rgb = (1.0 - fog) * shade[..., None] * albedo + fog * _FOG_GREY
        angle, period = math.pi * g[6], 0.2 + 0.3 * g[7]
        wave = tf.sin(
            2.0 * math.pi * (x * tf.cos(angle) + y * tf.sin(angle)) / period
            + 2.0 * math.pi * g[5]
        )
        striped = g[4] < 0.5
        lightness = 0.15 + 0.7 * g[3]
        bg = lightness * tf.where((wave > 0.0) & striped, 0.6, 1.0)
        image = tf.where((winner == _SLOTS)[..., None], bg[..., None], shapes_rgb)

        padded = tf.pad(winner, [[1, 1], [1, 1]], mode="SYMMETRIC")
        neighbours = [
            padded[:-2, 1:-1],
            padded[2:, 1:-1],
            padded[1:-1, :-2],
            padded[1:-1, 2:],
        ]
        edge = tf.reduce_any(tf.stack([n != winner for n in neighbours]), 0)

        disc_fraction = tf.reduce_mean(tf.cast(seg == 1, tf.float32))
        values = [disc_fraction > t for t in _DISC_FRACTION_THRESHOLDS]
        values += [g[2] > t for t in _COLOUR_THRESHOLDS]
        values += [g[3] > 0.5, striped]
        labels = {
            "segmentation": seg,
            "depth": depth,
            "normals": normals,
            "edges": tf.cast(edge, tf.float32)[..., None],
        }
        for name, value in zip(_ATTRIBUTES, values):
            labels[name] = tf.cast(value, tf.int32)
        return {"image": tf.clip_by_value(image, 0.0, 1.0), "labels": labels}
