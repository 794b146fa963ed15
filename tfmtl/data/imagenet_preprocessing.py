"""ImageNet input preprocessing of pretrained networks, as a data wrapper.

A converted network must see the input it was trained on. Our sources give
RGB images in [0, 1]; `ImageNetPreprocessing` turns them into

* `"torchvision"`: `(image - mean) / std` per RGB channel with torchvision's
  ImageNet mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225)
  (torchvision `transforms.Normalize` after `ToTensor`, as its model
  weights document), for the torchvision ResNets;
* `"caffe"`: BGR channel order, scaled to [0, 255], minus the Caffe
  ImageNet mean (B, G, R) = (103.939, 116.779, 123.68) (the Caffe ResNets,
  Keras-applications ResNet-50, DeepLab).

Reference: torchvision `transforms.Normalize` and the ImageNet weights'
`transforms` (mean / std above); Keras `imagenet_utils.preprocess_input`
(`mode="caffe"`).
"""

import tensorflow as tf

from tfmtl.data.wrapped_source import WrappedSource

TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
MODES = ("torchvision", "caffe")


def preprocess_image(image, mode="torchvision"):
    """Preprocesses a float RGB image (or batch) in [0, 1] for `mode`.

    Args:
        image: float tensor [..., 3], RGB in [0, 1].
        mode: `"torchvision"` or `"caffe"`.

    Returns:
        float32 tensor of the same shape.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    image = tf.cast(image, tf.float32)
    if mode == "torchvision":
        mean = tf.constant(TORCHVISION_MEAN, tf.float32)
        return (image - mean) / tf.constant(TORCHVISION_STD, tf.float32)
    return image[..., ::-1] * 255.0 - tf.constant(CAFFE_MEAN_BGR, tf.float32)


class ImageNetPreprocessing(WrappedSource):
    """A source whose images are preprocessed for an ImageNet network.

    Every split's `"image"` goes through `preprocess_image(image, mode)`;
    labels and everything else pass through. Wrap the source after any
    augmentation (augmentations expect images in [0, 1]). Sources that
    already normalise (the TAPS classification sources do torchvision's
    normalisation themselves) must not be wrapped again.

    Args:
        source: a `DataSource` with RGB images in [0, 1].
        mode: `"torchvision"` or `"caffe"`.

    Example:
    ```python
    data = ImageNetPreprocessing(SyntheticScenes(image_size=64))
    ```
    """

    def __init__(self, source, mode="torchvision"):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
        self.source, self.mode = source, mode

    def _apply(self, example):
        example = dict(example)
        example["image"] = preprocess_image(example["image"], self.mode)
        return example

    @property
    def indexable(self):
        return self.source.indexable

    def num_examples(self, split):
        return self.source.num_examples(split)

    def example(self, index, split):
        return self._apply(self.source.example(index, split))

    def read(
        self, split, shuffle_seed=None, skip=0, *, repeat=False, shard=None
    ):
        dataset = self.source.read(
            split, shuffle_seed, skip, repeat=repeat, shard=shard
        )
        return dataset.map(self._apply, num_parallel_calls=tf.data.AUTOTUNE)
