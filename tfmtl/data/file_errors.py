"""Reading data files so that a corrupt or missing one is named in the error.

TensorFlow's decoders fail with messages such as `Invalid PNG data, size
1024` that name no file, deep inside a `tf.data` map. `read_decoded` reads
and decodes one file inside a tiny nested dataset whose errors are caught
(`ignore_errors`) and turned into a flag: when the flag says the file could
not be read or decoded, an in-graph assertion fails with the file's path in
its message. Nothing is dropped (the assertion stops the pipeline), no
Python runs per element, and a good file costs one small nested iterator.

`describe` turns such an error (as raised by the iterator, a training step
or an evaluation) into the one line the command line prints.
"""

import os
import re

import tensorflow as tf

MARKER = "tfmtl: cannot read or decode data file"
# In graphs `[MARKER] [PATH]`, eagerly `b'MARKER'\nb'PATH'`.
_PATH = re.compile(re.escape(MARKER) + r"(?:\] \[(.*?)\]|'\s+b'(.*?)')(?:\s|$)")


def read_decoded(path, decode):
    """`decode(tf.io.read_file(path))`, failing with `path` in the message.

    Args:
        path: scalar string tensor, the file to read.
        decode: function of the file's bytes (a scalar string tensor) to a
            tensor, e.g. `lambda b: tf.io.decode_png(b, channels=3)`.

    Returns:
        The decoded tensor.

    Raises:
        tf.errors.InvalidArgumentError: when iterated, if the file is
            missing, unreadable or does not decode; the message holds
            `MARKER` and the path (see `describe`).

    Example:
    ```python
    image = read_decoded(path, lambda b: tf.io.decode_png(b, channels=3))
    ```
    """
    path = tf.convert_to_tensor(path, tf.string)
    good = (
        tf.data.Dataset.from_tensors(path)
        .map(lambda p: (True, decode(tf.io.read_file(p))))
        .ignore_errors()
    )
    spec = good.element_spec[1]
    dims = [0] if spec.shape.rank is None else spec.shape.as_list()
    shape = [0 if d is None else d for d in dims]
    failed = tf.data.Dataset.from_tensors((False, tf.zeros(shape, spec.dtype)))
    ok, value = good.concatenate(failed).take(1).get_single_element()
    check = tf.debugging.Assert(ok, [MARKER, path])
    with tf.control_dependencies([check]):
        return tf.identity(value)


class DataFileError(OSError):
    """A data file is missing, unreadable or corrupt (one-line message)."""


def failed_path(error):
    """The path in an error raised through `read_decoded`, or None."""
    match = _PATH.search(str(error))
    return (match.group(1) or match.group(2)) if match else None


def describe(error):
    """One line for a `read_decoded` failure, or None for other errors."""
    path = failed_path(error)
    if path is None:
        return None
    folder = os.path.dirname(path) or "."
    return (
        f"cannot read or decode data file {path} (missing, unreadable or "
        "corrupt); check the data set with `python -m "
        f"tfmtl.data.check_files --data_dir={folder}` (or its root) and "
        "re-download or re-extract the bad files"
    )
