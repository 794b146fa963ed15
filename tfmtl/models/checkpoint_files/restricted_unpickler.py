"""A pickle reader that builds only PyTorch tensors and plain containers.

PyTorch checkpoints are pickles, and a pickle may name any Python callable.
`RestrictedUnpickler` resolves only the globals a saved state dict needs
(tensor and parameter rebuilds, storage classes, dtypes, `OrderedDict`) to
numpy-backed stand-ins, so reading a checkpoint runs no code from the file
and needs no torch. Any other global is a one-line error naming it.

Reference: PyTorch's `torch/serialization.py` (`_save`, `_legacy_save`) and
`torch/_utils.py` (`_rebuild_tensor_v2`, `_rebuild_parameter`) define what a
checkpoint pickle contains.
"""

import collections
import pickle

import numpy as np


class UnsupportedPickleError(ValueError):
    """Raised when a checkpoint pickle names a global outside the allow list."""


def _bfloat16():
    # bfloat16 arrives as raw 16-bit words, widened to float32 on reading.
    return np.dtype("<u2")


_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
    "ComplexFloatStorage": np.complex64,
    "ComplexDoubleStorage": np.complex128,
    "UntypedStorage": np.uint8,
}
_TORCH_DTYPES = {
    "float32": np.float32,
    "float": np.float32,
    "float64": np.float64,
    "double": np.float64,
    "float16": np.float16,
    "half": np.float16,
    "bfloat16": "bfloat16",
    "int64": np.int64,
    "long": np.int64,
    "int32": np.int32,
    "int": np.int32,
    "int16": np.int16,
    "short": np.int16,
    "int8": np.int8,
    "uint8": np.uint8,
    "bool": np.bool_,
    "complex64": np.complex64,
    "complex128": np.complex128,
}


class _StorageType:
    """Stand-in for a torch storage class: knows its element dtype."""

    def __init__(self, name, dtype):
        self.name = name
        self.dtype = dtype


class _Storage:
    """A storage read lazily: `array` (1-D numpy) is set once its bytes are."""

    def __init__(self, key, dtype):
        self.key = key
        self.dtype = dtype
        self.array = None


class _TensorRef:
    """A tensor of a storage: offset, shape and strides in elements."""

    def __init__(self, storage, offset, shape, strides, dtype=None):
        self.storage = storage
        self.offset = int(offset)
        self.shape = tuple(int(s) for s in shape)
        self.strides = tuple(int(s) for s in strides)
        self.dtype = dtype

    def to_numpy(self):
        """The tensor as a new C-contiguous numpy array."""
        flat = self.storage.array
        if self.dtype is not None:
            flat = flat.view(_numpy_dtype(self.dtype))
        bfloat16 = _is_bfloat16(self.dtype or self.storage.dtype)
        itemsize = flat.dtype.itemsize
        if not self.shape:
            out = np.array(flat[self.offset])
        else:
            out = np.lib.stride_tricks.as_strided(
                flat[self.offset :],
                self.shape,
                tuple(s * itemsize for s in self.strides),
            ).copy()
        if bfloat16:
            out = (out.astype(np.uint32) << 16).view(np.float32)
        return out


def _is_bfloat16(dtype):
    return isinstance(dtype, str) and dtype == "bfloat16"


def _numpy_dtype(dtype):
    return _bfloat16() if _is_bfloat16(dtype) else np.dtype(dtype)


def _rebuild_tensor(storage, offset, shape, strides, *unused):
    return _TensorRef(storage, offset, shape, strides)


def _rebuild_tensor_v3(storage, offset, shape, strides, grad, hooks, dtype, *_):
    return _TensorRef(storage, offset, shape, strides, dtype)


def _rebuild_parameter(data, *unused):
    return data


def _rebuild_from_type_v2(func, new_type, args, state):
    return func(*args)


class _TensorType:
    """Stand-in for `torch.Tensor` / `torch.nn.Parameter` as a type."""


_FUNCTIONS = {
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type_v2,
    ("torch", "Tensor"): _TensorType,
    ("torch.nn.parameter", "Parameter"): _TensorType,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles a PyTorch checkpoint pickle without torch or foreign code.

    Args:
        file: binary file object positioned at the pickle.
        persistent_load: function of a persistent id (a tuple such as
            `("storage", _StorageType, key, location, numel)`) returning the
            object it stands for (usually a `_Storage`).

    Example:

    >>> import io, pickle
    >>> RestrictedUnpickler(io.BytesIO(pickle.dumps({"a": [1]}))).load()
    {'a': [1]}

    Reference:
        PyTorch `torch/serialization.py` and `torch/_utils.py`.
    """

    def __init__(self, file, persistent_load=None):
        super().__init__(file, encoding="latin1")
        self._persistent_load = persistent_load

    def find_class(self, module, name):
        if module == "__builtin__":  # protocol-2 pickles of Python 2 names
            module = "builtins"
        if (module, name) in _FUNCTIONS:
            return _FUNCTIONS[(module, name)]
        if module in ("torch", "torch.storage") and name in _STORAGE_DTYPES:
            return _StorageType(name, _STORAGE_DTYPES[name])
        if module == "torch" and name in _TORCH_DTYPES:
            return _TORCH_DTYPES[name]
        raise UnsupportedPickleError(
            f"Checkpoint pickle names the global {module}.{name}, which a "
            "state dict does not need; refusing to load it."
        )

    def persistent_load(self, pid):
        if self._persistent_load is None:
            raise UnsupportedPickleError(
                f"Unexpected persistent id {pid!r} in a plain pickle."
            )
        return self._persistent_load(pid)


def resolve(obj):
    """Replaces every `_TensorRef` in nested containers by a numpy array."""
    if isinstance(obj, _TensorRef):
        return obj.to_numpy()
    if isinstance(obj, dict):
        return type(obj)((k, resolve(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(resolve(v) for v in obj)
    return obj
