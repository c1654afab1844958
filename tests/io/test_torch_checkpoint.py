"""load_torch_checkpoint on checkpoints written by hand in PyTorch's formats (no torch needed)."""

from __future__ import annotations

import pickle
import tarfile
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jax3d.io import load_torch_checkpoint, state_dict_to_flax
from tests.io.torch_writer import (
    Call,
    Global,
    Storage,
    Tensor,
    save_torch_legacy,
    save_torch_zip,
)

SAVERS = {"zip": save_torch_zip, "legacy": save_torch_legacy}


def _state(rng):
    return {
        "conv.weight": rng.standard_normal((4, 3, 2, 2)).astype(np.float32),
        "conv.bias": rng.standard_normal(4).astype(np.float32),
        "half": rng.standard_normal((2, 3)).astype(np.float16),
        "double": rng.standard_normal(5),
        "bn.num_batches_tracked": np.array(7, np.int64),
        "mask": np.array([True, False, True]),
        "ids": np.arange(6, dtype=np.int32).reshape(2, 3),
        "empty": np.zeros((0, 3), np.float32),
    }


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_round_trip_values_and_dtypes(tmp_path, fmt):
    state = _state(np.random.default_rng(0))
    path = tmp_path / "ckpt.pth"
    SAVERS[fmt](path, state)
    loaded = load_torch_checkpoint(path)
    assert list(loaded) == list(state)
    for name, want in state.items():
        assert loaded[name].dtype == want.dtype and loaded[name].shape == want.shape, name
        np.testing.assert_array_equal(loaded[name], want)
        assert loaded[name].flags.c_contiguous


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_transposed_and_offset_views_of_one_storage(tmp_path, fmt):
    base = np.arange(12, dtype=np.float32)
    storage = Storage("0", base)
    state = {
        # a (3, 4) matrix transposed: size (4, 3), stride (1, 4): not contiguous
        "t": Tensor(storage, 0, (4, 3), (1, 4)),
        # rows 1..2 of the (3, 4) matrix: offset 4
        "rows": Tensor(storage, 4, (2, 4), (4, 1)),
        # every other element from 3 on, and a broadcast (stride 0) row
        "strided": Tensor(storage, 3, (4,), (2,)),
        "broadcast": Tensor(storage, 5, (2, 3), (0, 1)),
    }
    path = tmp_path / "views.pth"
    SAVERS[fmt](path, state)
    out = load_torch_checkpoint(path)
    m = base.reshape(3, 4)
    np.testing.assert_array_equal(out["t"], m.T)
    np.testing.assert_array_equal(out["rows"], m[1:3])
    np.testing.assert_array_equal(out["strided"], base[3:11:2])
    np.testing.assert_array_equal(out["broadcast"], np.stack([base[5:8]] * 2))


@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    perm_seed=st.integers(0, 100),
    offset=st.integers(0, 5),
)
def test_permuted_strides_match_numpy(tmp_path_factory, shape, perm_seed, offset):
    rng = np.random.default_rng(perm_seed)
    n = int(np.prod(shape))
    flat = rng.standard_normal(n + offset).astype(np.float32)
    dense = flat[offset:].reshape(shape)
    perm = rng.permutation(len(shape))
    view = dense.transpose(perm)  # numpy's strides of the permuted view, in elements
    stride = tuple(s // 4 for s in view.strides)
    path = tmp_path_factory.mktemp("perm") / "p.pth"
    save_torch_zip(path, {"x": Tensor(Storage("0", flat), offset, view.shape, stride)})
    np.testing.assert_array_equal(load_torch_checkpoint(path)["x"], view)


def test_prefix_big_endian_nested_and_parameter(tmp_path):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((3, 2)).astype(np.float32)
    state = {  # "p" is an nn.Parameter: _rebuild_parameter wraps the tensor
        "model": {"fc.weight": w, "fc.bias": np.ones(3, np.float32)},
        "epoch": 5,
        "note": "not a tensor",
        "p": Call(Global("torch._utils", "_rebuild_parameter"),
                  (Tensor(Storage("q", w), 0, (3, 2), (2, 1)), True, OrderedDict())),
    }  # fmt: skip
    path = tmp_path / "nested.pt"
    save_torch_zip(path, state, prefix="resnet_weights", byteorder="big")
    out = load_torch_checkpoint(path)
    assert set(out) == {"model.fc.weight", "model.fc.bias", "epoch", "p"}
    np.testing.assert_array_equal(out["model.fc.weight"], w)
    np.testing.assert_array_equal(out["p"], w)
    assert out["epoch"] == 5 and out["model.fc.weight"].dtype == np.float32


def test_refuses_foreign_global(tmp_path):
    path = tmp_path / "evil.pth"
    save_torch_zip(path, {"x": Call(Global("os", "system"), ("echo pwned",))})
    with pytest.raises(ValueError, match=r"evil\.pth.*os\.system"):
        load_torch_checkpoint(path)
    path = tmp_path / "module.pth"
    save_torch_legacy(path, {"m": Call(Global("torch.nn.modules.conv", "Conv2d"), (1, 2, 3))})
    with pytest.raises(ValueError, match=r"module\.pth.*torch\.nn\.modules\.conv\.Conv2d"):
        load_torch_checkpoint(path)


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_refuses_reads_outside_the_storage(tmp_path, fmt):
    storage = Storage("0", np.arange(6, dtype=np.float32))
    cases = {
        "offset": Tensor(storage, 6, (1,), (1,)),  # offset past the end
        "extent": Tensor(storage, 2, (2, 3), (3, 1)),  # last element 2 + 3 + 2 = 7
        "negative": Tensor(storage, 0, (2,), (-1,)),
    }
    for name, tensor in cases.items():
        path = tmp_path / f"{fmt}_{name}.pth"
        SAVERS[fmt](path, {"x": tensor})
        with pytest.raises(ValueError, match=path.name):
            load_torch_checkpoint(path)


def test_refuses_size_mismatch_missing_storage_and_budget(tmp_path):
    lying = {"x": Tensor(Storage("0", np.zeros(4, np.float32), numel=8), 0, (8,), (1,))}
    path = tmp_path / "lying.pth"
    save_torch_zip(path, lying)
    with pytest.raises(ValueError, match="holds 16 bytes, expected 8"):
        load_torch_checkpoint(path)
    path = tmp_path / "lying_legacy.pth"
    save_torch_legacy(path, lying)
    with pytest.raises(ValueError, match="lying_legacy.pth: file ends inside storage 0"):
        load_torch_checkpoint(path)
    # a storage member removed from the archive
    path = tmp_path / "ok.pth"
    save_torch_zip(path, {"x": np.zeros(3, np.float32)})
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp_path / "missing.pth", "w") as dst:
        for info in src.infolist():
            if "/data/" not in info.filename:
                dst.writestr(info, src.read(info))
    with pytest.raises(ValueError, match="missing.pth: storage w0 is missing"):
        load_torch_checkpoint(tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="max_bytes"):
        load_torch_checkpoint(path, max_bytes=8)
    # a tiny storage broadcast to a huge tensor (stride 0) is capped too
    path = tmp_path / "broadcast.pth"
    save_torch_zip(path, {"x": Tensor(Storage("0", np.zeros(1, np.float32)), 0, (1 << 20,), (0,))})
    with pytest.raises(ValueError, match="tensors exceed max_bytes"):
        load_torch_checkpoint(path, max_bytes=1 << 16)


def test_refuses_files_that_are_not_checkpoints(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01not a pickle" * 10)
    with pytest.raises(ValueError, match="junk.bin"):
        load_torch_checkpoint(junk)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(ValueError, match="plain.pkl: not a PyTorch checkpoint"):
        load_torch_checkpoint(plain)
    old = tmp_path / "old.tar"
    with tarfile.open(old, "w") as tar:
        tar.add(plain, arcname="pickle")
    with pytest.raises(ValueError, match="torch>=1.6"):
        load_torch_checkpoint(old)
    with pytest.raises(ValueError, match="checkpoint is a directory"):
        load_torch_checkpoint(tmp_path)
    truncated = tmp_path / "truncated.pth"
    save_torch_legacy(truncated, {"x": np.ones(100, np.float32)})
    truncated.write_bytes(truncated.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated.pth: file ends inside storage"):
        load_torch_checkpoint(truncated)


def test_state_dict_to_flax_layouts():
    rng = np.random.default_rng(2)
    conv = rng.standard_normal((8, 3, 3, 5)).astype(np.float32)  # (O, I, kh, kw)
    fc = rng.standard_normal((10, 8)).astype(np.float32)  # (O, I)
    sd = {
        "block.conv.weight": conv,
        "block.bn.weight": np.full(8, 2.0, np.float32),
        "block.bn.bias": np.zeros(8, np.float32),
        "block.bn.running_mean": np.ones(8, np.float32),
        "block.bn.running_var": np.full(8, 3.0, np.float32),
        "block.bn.num_batches_tracked": np.array(4),
        "fc.weight": fc,
        "fc.bias": np.arange(10, dtype=np.float32),
    }
    v = state_dict_to_flax(sd)
    kernel = v["params"]["block"]["conv"]["kernel"]
    np.testing.assert_array_equal(kernel, conv.transpose(2, 3, 1, 0))
    assert kernel[1, 4, 2, 7] == conv[7, 2, 1, 4]
    assert set(v["params"]["block"]["bn"]) == {"scale", "bias"}
    assert v["batch_stats"]["block"]["bn"]["var"][0] == 3.0
    np.testing.assert_array_equal(v["params"]["fc"]["kernel"], fc.T)
    np.testing.assert_array_equal(v["params"]["fc"]["bias"], sd["fc.bias"])
