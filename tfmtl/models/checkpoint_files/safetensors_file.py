"""Reads and writes `.safetensors` files with numpy (no extra package).

Layout: an unsigned little-endian 64-bit header length N, N bytes of JSON
`{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
{...}}`, then the tensors' bytes (offsets relative to the end of the
header), little-endian, C order.

Reference: the format's specification in huggingface/safetensors
(`README.md`, "Format").
"""

import json

import numpy as np

_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "BF16": "bfloat16",
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
_CODES = {np.dtype(v): k for k, v in _DTYPES.items() if k != "BF16"}


def read_safetensors(data):
    """Returns `{name: numpy array}` from a `.safetensors` file's bytes.

    Raises:
        ValueError: malformed header, unknown dtype or out-of-range offsets.
    """
    if len(data) < 8:
        raise ValueError("Not a safetensors file (shorter than 8 bytes).")
    size = int(np.frombuffer(data[:8], "<u8")[0])
    if size > len(data) - 8:
        raise ValueError("Not a safetensors file (header past the end).")
    try:
        header = json.loads(data[8 : 8 + size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"Bad safetensors header: {error}.") from None
    body = memoryview(data)[8 + size :]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        code = entry.get("dtype")
        if code not in _DTYPES:
            raise ValueError(f"Tensor {name!r} has unsupported dtype {code}.")
        begin, end = entry["data_offsets"]
        if not 0 <= begin <= end <= len(body):
            raise ValueError(f"Tensor {name!r} lies outside the file.")
        shape = tuple(entry["shape"])
        if code == "BF16":
            words = np.frombuffer(body[begin:end], "<u2").astype(np.uint32)
            array = (words << 16).view(np.float32)
        else:
            array = np.frombuffer(
                body[begin:end], np.dtype(_DTYPES[code]).newbyteorder("<")
            )
        if array.size != int(np.prod(shape)):
            raise ValueError(f"Tensor {name!r}: {array.size} values, {shape}.")
        out[name] = array.reshape(shape).astype(array.dtype.newbyteorder("="))
    return out


def safetensors_bytes(arrays, metadata=None):
    """The bytes of a `.safetensors` file holding `arrays` (`{name: array}`).

    Args:
        arrays: dict of numpy arrays (float16/32/64, int8-64, uint8, bool).
        metadata: optional dict of strings stored as `__metadata__`.
    """
    header, chunks, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name in sorted(arrays):
        array = np.asarray(arrays[name], order="C")
        if array.dtype not in _CODES:
            raise ValueError(f"{name!r}: dtype {array.dtype} not storable.")
        raw = array.astype(array.dtype.newbyteorder("<")).tobytes()
        header[name] = {
            "dtype": _CODES[array.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return np.array(len(text), "<u8").tobytes() + text + b"".join(chunks)
