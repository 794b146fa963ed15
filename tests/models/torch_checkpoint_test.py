"""Tests for tfmtl.models.checkpoint_files (reading torch files, no torch).

The fixtures are real `torch.save` outputs (zip and legacy formats) and a
`safetensors.torch.save_file` output, written by
`scripts/make_torch_fixtures.py`; `tiny_expected.npz` holds the same arrays
as numpy wrote them, so every value, dtype and shape is checked against
what torch held.
"""

import io
import pickle
import zipfile

import numpy as np
import pytest

from tests.models.torch_fixtures import FIXTURES, run_script, run_torch
from tfmtl.models import checkpoint_files
from tfmtl.models.checkpoint_files import (
    UnsupportedPickleError,
    read_checkpoint,
    read_safetensors,
    safetensors_bytes,
    write_checkpoint,
)


def _expected():
    with np.load(FIXTURES / "tiny_expected.npz") as data:
        return {k: data[k] for k in data.files}


@pytest.mark.parametrize("name", ["tiny_zip.pth", "tiny_legacy.pth"])
def test_torch_files_equal_what_torch_saved(name):
    arrays = read_checkpoint(FIXTURES / name, key="state_dict")
    expected = _expected()
    assert sorted(arrays) == sorted(expected)
    for key, value in expected.items():
        assert arrays[key].dtype == value.dtype, key
        np.testing.assert_array_equal(arrays[key], value, err_msg=key)
    # The transposed half tensor and the strided view keep their layout.
    np.testing.assert_array_equal(arrays["half"], [[0, 3], [1, 4], [2, 5]])
    np.testing.assert_array_equal(arrays["bf16"], [1.5, -2.25, 3.0])


def test_flattened_names_and_non_tensor_entries():
    arrays = read_checkpoint(FIXTURES / "tiny_zip.pth")
    assert "state_dict.0.weight" in arrays
    assert "epoch" not in arrays  # numbers are not arrays
    assert arrays["state_dict.1.num_batches_tracked"].dtype == np.int64


def test_safetensors_file_equals_what_torch_saved():
    arrays = read_checkpoint(FIXTURES / "tiny.safetensors")
    for key, value in _expected().items():
        assert arrays[key].dtype == value.dtype, key
        np.testing.assert_array_equal(arrays[key], value, err_msg=key)


def test_safetensors_round_trip_and_npz(tmp_path):
    arrays = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": np.array([1, -2], np.int64),
        "c": np.array([True, False]),
    }
    back = read_safetensors(safetensors_bytes(arrays, {"note": "x"}))
    for key, value in arrays.items():
        np.testing.assert_array_equal(back[key], value)
        assert back[key].dtype == value.dtype
    np.savez(tmp_path / "w.npz", **arrays)
    back = read_checkpoint(tmp_path / "w.npz")
    np.testing.assert_array_equal(back["a"], arrays["a"])


class _Evil:
    def __reduce__(self):
        return (print, ("ran code from the checkpoint",))


def test_foreign_global_is_refused_with_its_name(tmp_path, capsys):
    # A zip checkpoint whose data.pkl calls print: refused, nothing runs.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"x": _Evil()}, 2))
    (tmp_path / "evil.pth").write_bytes(buffer.getvalue())
    with pytest.raises(UnsupportedPickleError, match=r"builtins\.print"):
        read_checkpoint(tmp_path / "evil.pth")
    assert "ran code" not in capsys.readouterr().out
    (tmp_path / "os.pth").write_bytes(b"\x80\x02cos\nsystem\n.")
    with pytest.raises(ValueError, match=r"os\.system"):
        read_checkpoint(tmp_path / "os.pth")


def test_bad_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No such checkpoint"):
        read_checkpoint(tmp_path / "absent.pth")
    with pytest.raises(ValueError, match="Unknown checkpoint format"):
        read_checkpoint(tmp_path / "x.onnx")
    (tmp_path / "junk.pth").write_bytes(b"hello")
    with pytest.raises(ValueError, match="Not a PyTorch checkpoint"):
        read_checkpoint(tmp_path / "junk.pth")
    with pytest.raises(ValueError, match="no entry 'model'"):
        read_checkpoint(FIXTURES / "tiny_zip.pth", key="model")
    assert checkpoint_files.is_checkpoint_file("a/b.PTH")


@pytest.mark.interop
def test_interop_full_resnet_checkpoints(tmp_path):
    """torch writes a full torchvision ResNet-18 in both formats (interop)."""
    run_script(tmp_path, "--archs", "resnet18", "--checkpoints")
    arrays = read_checkpoint(tmp_path / "resnet18.pth")
    tiny = read_checkpoint(tmp_path / "tiny_legacy.pth", key="state_dict")
    assert len(arrays) == 122 and "layer4.1.bn2.running_var" in arrays
    np.testing.assert_array_equal(tiny["half"], _expected()["half"])


def _arrays():
    rng = np.random.default_rng(3)
    return {
        "w": rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
        "h": rng.normal(size=(2, 5)).astype(np.float16),
        "d": rng.normal(size=(3,)),
        "n": np.array(7, np.int64),
        "t": np.asfortranarray(rng.normal(size=(3, 2)).astype("f4")),
    }


@pytest.mark.parametrize("suffix", [".pth", ".safetensors", ".npz"])
def test_written_files_read_back(tmp_path, suffix):
    arrays = _arrays()
    path = write_checkpoint(tmp_path / ("w" + suffix), arrays)
    back = read_checkpoint(path)
    assert sorted(back) == sorted(arrays)
    for key, value in arrays.items():
        assert back[key].shape == value.shape and back[key].dtype == value.dtype
        np.testing.assert_array_equal(back[key], value)
    with pytest.raises(ValueError, match="Cannot write"):
        write_checkpoint(tmp_path / "w.onnx", arrays)


_TORCH_READS = """
import numpy as np
state = torch.load(sys.argv[1], weights_only=True)
np.savez(sys.argv[2], **{k: v.numpy() for k, v in state.items()})
"""


@pytest.mark.interop
def test_interop_torch_loads_written_pth(tmp_path):
    arrays = _arrays()
    write_checkpoint(tmp_path / "w.pth", arrays)
    run_torch(_TORCH_READS, tmp_path / "w.pth", tmp_path / "back.npz")
    with np.load(tmp_path / "back.npz") as back:
        for key, value in arrays.items():
            assert back[key].shape == value.shape, key
            assert back[key].dtype == value.dtype, key
            np.testing.assert_array_equal(back[key], value)
