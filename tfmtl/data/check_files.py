r"""Checks that every image and `.npy` file under a data set's root decodes.

Usage:
  python -m tfmtl.data.check_files --data_dir=/data/nyu_v2

Prints one line per file that is unreadable or does not decode (`.png`,
`.jpg`, `.jpeg`, `.bmp`, `.gif`, `.npy`), then a summary; exits with status 2
when a file is bad (one `error:` line, as every tfmtl binary), 0 otherwise.
Training and evaluation name the first bad file they meet (see
`tfmtl.data.file_errors`); this finds them all before a run.
"""

import io
import os
import re

import numpy as np
from absl import flags

from tfmtl import cli

cli.import_tensorflow()

import tensorflow as tf  # noqa: E402 - after the quiet import.

FLAGS = flags.FLAGS
PROG = "tfmtl.data.check_files"
IMAGES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")

cli.define_common(__name__)
cli.define(__name__, "string", "data_dir", None, "The data set's root.")


def check_file(path):
    """None when `path` decodes, else the reason (one line)."""
    try:
        contents = tf.io.read_file(path)
        if path.lower().endswith(".npy"):
            np.load(io.BytesIO(contents.numpy()), allow_pickle=False)
        else:
            tf.io.decode_image(contents, expand_animations=False)
    except (tf.errors.OpError, ValueError, OSError) as error:
        # TensorFlow's `{{function_node ...}}` prefix and `[Op:...]` tail.
        text = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:.*$", "", str(error))
        return f"{type(error).__name__}: {' '.join(text.split())}"
    return None


def check_tree(root):
    """`(files checked, [(path, reason), ...])` for the files under `root`."""
    checked, bad = 0, []
    for folder, _, files in sorted(tf.io.gfile.walk(root)):
        for name in sorted(files):
            if not name.lower().endswith((*IMAGES, ".npy")):
                continue
            path = os.path.join(folder, name)
            checked += 1
            reason = check_file(path)
            if reason is not None:
                bad.append((path, reason))
    return checked, bad


def _run():
    if not FLAGS.data_dir:
        raise ValueError("--data_dir is required.")
    if not tf.io.gfile.isdir(FLAGS.data_dir):
        raise FileNotFoundError(f"No directory {FLAGS.data_dir}")
    checked, bad = check_tree(FLAGS.data_dir)
    for path, reason in bad:
        print(f"bad: {path}: {reason}")
    print(f"{checked} files checked, {len(bad)} bad.")
    if bad:
        raise ValueError(
            f"{len(bad)} of {checked} data files are bad (first: "
            f"{bad[0][0]}); re-download or re-extract them."
        )


_main = cli.absl_main(_run, PROG)


def main():
    """Runs the binary on `sys.argv`."""
    cli.run(_main, PROG, __name__)


if __name__ == "__main__":
    main()
