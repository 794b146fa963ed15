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
# Positive rates about 0.55 / 0.5 / 0.45 (the median visible disc fraction,
# measured on 20,000 training scenes, is 0.108). Thresholds of one factor are
# close together so that a task group shares one decision boundary region:
# TAG's lookahead affinity (and network selection) then recovers the groups.
_DISC_FRACTION_THRESHOLDS = (0.098, 0.108, 0.118)
_COLOUR_THRESHOLDS = (0.47, 0.5, 0.53)
# attr_c0, attr_c2, attr_c3 threshold the lightness draw as the colour ones.
_LIGHTNESS_THRESHOLDS = (0.5, 0.47, 0.53)
_ATTRIBUTES = (
    "attr_a0",
    "attr_a1",
    "attr_a2",
    "attr_b0",
    "attr_b1",
    "attr_b2",
    "attr_c0",
    "attr_c1",
    "attr_c2",
    "attr_c3",
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
      1)`) above 0.098 / 0.108 / 0.118 (positive rates about .55 / .5 /
      .45).
    * `attr_b0..2` (binary): colour factor `u_B` above 0.47 / 0.5 / 0.53
      (shape hue above about 105 / 112 / 118 degrees).
    * `attr_c0`, `attr_c2`, `attr_c3` (binary): background lightness
      `l = 0.15 + 0.7 * u_C` with `u_C` above 0.5 / 0.47 / 0.53 (`l` above
      0.5 / 0.479 / 0.521).
    * `attr_c1` (binary): the background is striped (a fair coin).

    **Planted relations.** The A attributes are thresholds of one latent
    factor (disc coverage), the B attributes of a second (colour), the C
    attributes `attr_c0, attr_c2, attr_c3` of a third (background
    lightness) and `attr_c1` depends on a fourth independent draw, so the
    groups are mutually independent while attributes within a group
    correlate (about 0.88 to 0.94); `planted_groups()` returns
    `[A, B, C, [attr_c1]]`. The groups need different features: B only the
    hue of shape pixels, C the tone of the background (telling it from the
    shapes and the stripes), A the outline of the discs.

    Among the dense tasks, segmentation and edges both come
    from the shape layout, depth and normals both from the geometry; group A
    is also a function of the segmentation. Every attribute can be read off
    the image: A from the visible disc area, B from the hue of any shape
    pixel, C from the unstriped background tone, `attr_c1` from the
    stripes (only a fully hidden background or shape set defeats this).

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
            raise ValueError(
                f"num_classes must be in [3, 5], not {num_classes}"
            )
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
        """The ground-truth attribute groups: `[A, B, C, [attr_c1]]`."""
        c = ("attr_c0", "attr_c2", "attr_c3")
        return [_ATTRIBUTES[0:3], _ATTRIBUTES[3:6], c, ("attr_c1",)]

    def num_examples(self, split):
        sizes = (self.num_train, self.num_validation, self.num_test)
        return sizes[self._split_id(split)]

    @staticmethod
    def _split_id(split):
        if split not in _SPLITS:
            raise ValueError(f"Unknown split {split!r}; use {list(_SPLITS)}.")
        return _SPLITS[split]

    def _draws(self, index, split_id):
        """The uniform draws of one example: scene [10] and slots [K, 10]."""
        key = tf.constant([self.seed, 0x5CE7E5], tf.int64)
        key = tf.random.experimental.stateless_fold_in(key, split_id)
        key = tf.random.experimental.stateless_fold_in(
            key, tf.cast(index, tf.int64)
        )
        keys = tf.random.experimental.stateless_split(key, 2)
        scene = tf.random.stateless_uniform([10], seed=keys[0])
        slots = tf.random.stateless_uniform([_SLOTS, 10], seed=keys[1])
        return scene, slots

    def example(self, index, split):
        # One scene per call, so that every example is computed with
        # the same tensor shapes and is bit-identical wherever it falls in the
        # stream (rendering several at once changes the last float bits).
        scene, slots = self._draws(index, self._split_id(split))
        batch = self._render(scene[None], slots[None])
        return tf.nest.map_structure(lambda t: t[0], batch)

    def _render(self, g, u):
        """Renders scenes from draws g [N, 10] and u [N, K, 10]."""
        size, k = self.image_size, _DISC_SLOTS
        coords = (2.0 * tf.range(size, dtype=tf.float32) + 1.0) / size - 1.0
        y, x = tf.meshgrid(coords, coords, indexing="ij")  # [S, S]
        slot = tf.range(_SLOTS)[None]  # [1, K]
        n_disc = tf.cast(tf.floor(4.0 * g[:, :1]), tf.int32)
        n_other = 1 + tf.cast(tf.floor(3.0 * g[:, 1:2]), tf.int32)
        is_disc = tf.broadcast_to(slot < k, tf.shape(u[..., 0]))
        active = tf.where(is_disc, slot < n_disc, slot - k < n_other)
        shape = tf.cast(tf.floor(u[..., 9] * (self.num_classes - 2)), tf.int32)
        cls = tf.where(is_disc, 1, 2 + shape)  # [N, K]
        # Depth layer = rank of the slot among the active ones.
        order_key = tf.where(active, u[..., 8], 2.0 + u[..., 8])
        rank = tf.argsort(tf.argsort(order_key, axis=1), axis=1)
        base = 2.0 + tf.cast(rank, tf.float32)
        cx, cy = 1.5 * u[..., 0] - 0.75, 1.5 * u[..., 1] - 0.75
        size_u, theta = u[..., 2], 2.0 * math.pi * u[..., 3]
        tx, ty = u[..., 4] - 0.5, u[..., 5] - 0.5
        radius = 0.2 + 0.25 * size_u

        def grid(value):  # [N, K'] -> [N, K', 1, 1]
            return value[:, :, None, None]

        # Discs (slots < k): hemispherical domes.
        dx, dy = x - grid(cx[:, :k]), y - grid(cy[:, :k])
        r2 = grid(radius[:, :k]) ** 2
        inside = (dx**2 + dy**2 < r2) & grid(active[:, :k])
        dome = tf.sqrt(tf.nn.relu(r2 - dx**2 - dy**2))
        disc_depth = grid(base[:, :k] + radius[:, :k]) - dome
        # Other shapes (slots >= k): tilted planes.
        dx, dy = x - grid(cx[:, k:]), y - grid(cy[:, k:])
        cos, sin = grid(tf.cos(theta[:, k:])), grid(tf.sin(theta[:, k:]))
        au, av = tf.abs(cos * dx + sin * dy), tf.abs(cos * dy - sin * dx)
        s = grid(size_u[:, k:])
        mask = tf.maximum(au, av) < 0.15 + 0.2 * s  # square
        if self.num_classes > 3:
            triangle = tf.ones_like(mask)
            for i in range(3):
                phi = theta[:, k:] + 2.0 * math.pi * i / 3.0
                along = grid(tf.cos(phi)) * dx + grid(tf.sin(phi)) * dy
                triangle &= along < 0.125 + 0.125 * s
            mask = tf.where(grid(cls[:, k:] == 3), triangle, mask)
        if self.num_classes > 4:
            arm = 0.2 + 0.25 * s
            cross = (tf.minimum(au, av) < arm / 3) & (tf.maximum(au, av) < arm)
            mask = tf.where(grid(cls[:, k:] == 4), cross, mask)
        mask &= grid(active[:, k:])
        plane_depth = grid(base[:, k:] + 0.4) + grid(tx[:, k:]) * dx
        plane_depth += grid(ty[:, k:]) * dy
        gx, gy = g[:, 8] - 0.5, g[:, 9] - 0.5
        bg_depth = 10.0 + gx[:, None, None] * x + gy[:, None, None] * y
        depths = tf.concat(
            [
                tf.where(inside, disc_depth, float("inf")),
                tf.where(mask, plane_depth, float("inf")),
                bg_depth[:, None],
            ],
            1,
        )
        winner = tf.argmin(depths, axis=1, output_type=tf.int32)  # [N, S, S]
        depth = tf.reduce_min(depths, axis=1)[..., None]
        background = winner == _SLOTS

        # Per-pixel parameters of the visible surface; the background is a
        # plane slot with slopes (gx, gy).
        def visible(value, background_value):
            table = tf.concat([value, background_value[:, None]], 1)
            return tf.gather(table, winner, batch_dims=1)

        zero = tf.zeros_like(gx)
        dome_px = visible(tf.cast(is_disc, tf.float32), zero) > 0.5
        px, py = x - visible(cx, zero), y - visible(cy, zero)
        r_px = visible(radius, zero + 1.0)
        z_dome = tf.sqrt(tf.nn.relu(r_px**2 - px**2 - py**2))
        disc_n = tf.stack([px, -py, z_dome], -1) / r_px[..., None]
        slope_x, slope_y = visible(tx, gx), visible(ty, gy)
        plane_n = tf.stack([slope_x, -slope_y, tf.ones_like(slope_x)], -1)
        normals = tf.where(dome_px[..., None], disc_n, plane_n)
        normals = tf.math.l2_normalize(normals, axis=-1)
        seg = visible(cls, tf.zeros_like(cls[:, 0]))

        hsv = tf.stack(
            [
                tf.broadcast_to(_HUE_RANGE * g[:, 2:3], tf.shape(cx)),
                0.55 + 0.45 * u[..., 6],
                0.6 + 0.4 * u[..., 7],
            ],
            -1,
        )
        albedo = visible(tf.image.hsv_to_rgb(hsv), tf.zeros_like(hsv[:, 0]))
        light = tf.math.l2_normalize(tf.constant(_LIGHT), -1)
        shade = 0.3 + 0.7 * tf.nn.relu(tf.reduce_sum(normals * light, -1))
        fog = 1.0 - tf.exp(-depth / _FOG_DISTANCE)
        shapes_rgb = (1.0 - fog) * shade[..., None] * albedo + fog * _FOG_GREY

        def scene(value):  # [N] -> [N, 1, 1]
            return value[:, None, None]

        angle, period = math.pi * g[:, 6], 0.2 + 0.3 * g[:, 7]
        wave = tf.sin(
            2.0 * math.pi * scene(tf.cos(angle) / period) * x
            + 2.0 * math.pi * scene(tf.sin(angle) / period) * y
            + scene(2.0 * math.pi * g[:, 5])
        )
        striped = g[:, 4] < 0.5
        dark = (wave > 0.0) & scene(striped)
        bg = scene(0.15 + 0.7 * g[:, 3]) * tf.where(dark, 0.6, 1.0)
        image = tf.where(background[..., None], bg[..., None], shapes_rgb)

        padded = tf.pad(winner, [[0, 0], [1, 1], [1, 1]], mode="SYMMETRIC")
        edge = tf.zeros_like(background)
        for di, dj in ((0, 1), (2, 1), (1, 0), (1, 2)):
            edge |= padded[:, di : di + size, dj : dj + size] != winner

        disc_fraction = tf.reduce_mean(tf.cast(seg == 1, tf.float32), [1, 2])
        values = [disc_fraction > t for t in _DISC_FRACTION_THRESHOLDS]
        values += [g[:, 2] > t for t in _COLOUR_THRESHOLDS]
        above = [g[:, 3] > t for t in _LIGHTNESS_THRESHOLDS]
        values += [above[0], striped] + above[1:]
        labels = {
            "segmentation": seg,
            "depth": depth,
            "normals": normals,
            "edges": tf.cast(edge, tf.float32)[..., None],
        }
        for name, value in zip(_ATTRIBUTES, values):
            labels[name] = tf.cast(value, tf.int32)
        return {"image": tf.clip_by_value(image, 0.0, 1.0), "labels": labels}
