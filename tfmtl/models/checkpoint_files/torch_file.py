"""Reads PyTorch `.pth` / `.pt` files into numpy without torch.

Two layouts are read (both written by `torch.save`):

* the zip format (PyTorch >= 1.6): `<archive>/data.pkl` pickles the object
  with each storage as a persistent id `("storage", storage_type, key,
  location, numel)` whose raw bytes are the member `<archive>/data/<key>`
  (byte order in `<archive>/byteorder`, little-endian when absent);
* the legacy format (`_use_new_zipfile_serialization=False`): consecutive
  pickles of the magic number, the protocol version, the system info and the
  object (persistent ids `("storage", storage_type, key, location, numel,
  view_metadata)`), then a pickled list of storage keys, then for each key
  an int64 element count and the raw bytes.

The pickles go through `RestrictedUnpickler`. The older tar format
(PyTorch < 0.4) is refused with a clear error.

Reference: PyTorch `torch/serialization.py` (`_save`, `_legacy_save`).
"""

import io
import pickle
import tarfile
import zipfile

import numpy as np

from tfmtl.models.checkpoint_files.restricted_unpickler import (
    RestrictedUnpickler,
    UnsupportedPickleError,
    _Storage,
    _StorageType,
    resolve,
)
from tfmtl.models.checkpoint_files.restricted_unpickler import (
    _numpy_dtype as numpy_dtype,
)

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def _storage_of(pid, storages):
    if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
        raise UnsupportedPickleError(f"Unknown persistent id {pid!r}.")
    storage_type, key = pid[1], str(pid[2])
    if not isinstance(storage_type, _StorageType):
        raise UnsupportedPickleError(f"Bad storage type in {pid!r}.")
    if len(pid) > 5 and pid[5] is not None:
        raise UnsupportedPickleError(
            "Checkpoint uses storage views (PyTorch < 0.4); re-save it."
        )
    if key not in storages:
        storages[key] = _Storage(key, storage_type.dtype)
    return storages[key]


def _read_zip(data):
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("data.pkl")]
        if not pickles:
            raise ValueError("Zip checkpoint without data.pkl.")
        prefix = pickles[0][: -len("data.pkl")]
        byteorder = "little"
        if prefix + "byteorder" in names:
            byteorder = archive.read(prefix + "byteorder").decode().strip()
        storages = {}
        unpickler = RestrictedUnpickler(
            io.BytesIO(archive.read(pickles[0])),
            lambda pid: _storage_of(pid, storages),
        )
        obj = unpickler.load()
        for key, storage in storages.items():
            dtype = numpy_dtype(storage.dtype)
            raw = archive.read(f"{prefix}data/{key}")
            array = np.frombuffer(raw, dtype.newbyteorder("<"))
            if byteorder == "big":
                array = np.frombuffer(raw, dtype.newbyteorder(">"))
            storage.array = array.astype(dtype)
    return resolve(obj)


def _read_legacy(data):
    f = io.BytesIO(data)
    magic = RestrictedUnpickler(f).load()
    if magic != _LEGACY_MAGIC:
        raise ValueError("Not a PyTorch checkpoint (bad magic number).")
    RestrictedUnpickler(f).load()  # protocol version
    sys_info = RestrictedUnpickler(f).load()
    if not sys_info.get("little_endian", True):
        raise ValueError("Big-endian legacy checkpoints are not supported.")
    storages = {}
    obj = RestrictedUnpickler(f, lambda pid: _storage_of(pid, storages)).load()
    keys = RestrictedUnpickler(f).load()
    for key in keys:
        storage = storages[str(key)]
        dtype = numpy_dtype(storage.dtype)
        count = int(np.frombuffer(f.read(8), "<i8")[0])
        raw = f.read(count * dtype.itemsize)
        if len(raw) != count * dtype.itemsize:
            raise ValueError(f"Truncated checkpoint (storage {key}).")
        storage.array = np.frombuffer(raw, dtype).copy()
    return resolve(obj)


def load_torch(data):
    """Unpickles a `torch.save` file's bytes with tensors as numpy arrays.

    Args:
        data: the bytes of a `.pth` / `.pt` file.

    Returns:
        The saved object (dicts, lists, numbers) with every tensor a numpy
        array (bfloat16 widened to float32).

    Raises:
        UnsupportedPickleError: the pickle names a global other than tensor
            rebuilds, storages, dtypes and plain containers.
        ValueError: the bytes are not a readable PyTorch checkpoint.
    """
    if data[:4] == b"PK\x03\x04":
        return _read_zip(data)
    if data[:2] == b"\x80\x02" or data[:1] == b"\x80":
        try:
            return _read_legacy(data)
        except (pickle.UnpicklingError, EOFError) as error:
            raise ValueError(
                f"Unreadable PyTorch checkpoint: {error}."
            ) from None
    if tarfile.is_tarfile(io.BytesIO(data)):
        raise ValueError(
            "Tar-format PyTorch checkpoints (PyTorch < 0.4) are not "
            "supported; load and re-save the file with a newer torch."
        )
    raise ValueError("Not a PyTorch checkpoint (neither zip nor pickle).")
