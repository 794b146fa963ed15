"""Writes `{name: numpy array}` as a PyTorch zip checkpoint, without torch.

The file is what `torch.save(state_dict, path)` writes for CPU tensors:
a stored zip with `<archive>/data.pkl` (a protocol-2 pickle of an
`OrderedDict` whose values are `torch._utils._rebuild_tensor_v2(storage, 0,
shape, stride, False, OrderedDict())` calls, each storage a persistent id
`("storage", torch.<Type>Storage, key, "cpu", numel)`), the raw
little-endian bytes as `<archive>/data/<key>`, `<archive>/byteorder` and
`<archive>/version`. `torch.load` (also with `weights_only=True`) returns
the tensors; `tfmtl.models.checkpoint_files.read_checkpoint` reads it back.

Reference: PyTorch `torch/serialization.py` (`_save`).
"""

import collections
import io
import pickle
import zipfile

import numpy as np

_STORAGES = {
    np.dtype(np.float32): "FloatStorage",
    np.dtype(np.float64): "DoubleStorage",
    np.dtype(np.float16): "HalfStorage",
    np.dtype(np.int64): "LongStorage",
    np.dtype(np.int32): "IntStorage",
    np.dtype(np.int16): "ShortStorage",
    np.dtype(np.int8): "CharStorage",
    np.dtype(np.uint8): "ByteStorage",
    np.dtype(np.bool_): "BoolStorage",
}


class _Global:
    """A global written by name (`module.name`) without importing it."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle requires reduce functions callable
        raise TypeError("A placeholder, never called.")


class _Storage:
    def __init__(self, key, array):
        self.key, self.array = key, array


class _Tensor:
    def __init__(self, storage):
        self.storage = storage

    def __reduce__(self):
        array = self.storage.array
        stride = tuple(s // array.itemsize for s in array.strides)
        rebuild = _Global("torch._utils", "_rebuild_tensor_v2")
        args = (self.storage, 0, array.shape, stride, False)
        return rebuild, (*args, collections.OrderedDict())


class _Pickler(pickle._Pickler):
    def persistent_id(self, obj):
        if not isinstance(obj, _Storage):
            return None
        kind = _Global("torch", _STORAGES[obj.array.dtype])
        return ("storage", kind, obj.key, "cpu", int(obj.array.size))

    def save(self, obj, save_persistent_id=True):
        if isinstance(obj, _Global):
            self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
            return
        super().save(obj, save_persistent_id)


def torch_bytes(arrays, archive="archive"):
    """The bytes of a `torch.save`-compatible file of `arrays`.

    Args:
        arrays: dict from name to numpy array (float16/32/64, int8-64,
            uint8, bool); written in the dict's order.
        archive: name of the zip's top folder.

    Raises:
        ValueError: an array of a dtype torch storages cannot hold.
    """
    state, storages = collections.OrderedDict(), []
    for name, value in arrays.items():
        array = np.asarray(value, order="C")  # keeps 0-d arrays 0-d
        if array.dtype not in _STORAGES:
            raise ValueError(f"{name!r}: dtype {array.dtype} not storable.")
        array = array.astype(array.dtype.newbyteorder("<"), copy=False)
        storage = _Storage(str(len(storages)), array)
        storages.append(storage)
        state[name] = _Tensor(storage)
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=2).dump(state)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as f:
        f.writestr(f"{archive}/data.pkl", buffer.getvalue())
        f.writestr(f"{archive}/byteorder", "little")
        for storage in storages:
            f.writestr(f"{archive}/data/{storage.key}", storage.array.tobytes())
        f.writestr(f"{archive}/version", "3\n")
    return out.getvalue()
