"""``load_npz``: what ``np.savez`` writes loads exactly; crafted archives give a ValueError
naming the file before anything of the claimed size is allocated."""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest

from jax3d.io import load_npz
from tests.io.fuzz_special import crafted_npz

CRAFTED = crafted_npz()


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_round_trip(tmp_path, save):
    rng = np.random.default_rng(0)
    arrays = {
        "f": rng.random((3, 4)),
        "i": np.arange(5, dtype=">i2"),
        "fortran": np.asfortranarray(rng.random((2, 3)).astype(np.float32)),
        "scalar": np.array(3.5),
        "empty": np.zeros((0, 7), np.uint8),
        "text": np.array(["ab", "c"]),
        "b": np.array([True, False]),
    }
    save(tmp_path / "a.npz", **arrays)
    got = load_npz(tmp_path / "a.npz")
    assert list(got) == list(arrays)
    for k, v in arrays.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
        np.testing.assert_array_equal(got[k], v)
        assert got[k].flags.f_contiguous == v.flags.f_contiguous or v.ndim < 2
    buf = io.BytesIO((tmp_path / "a.npz").read_bytes())
    assert list(load_npz(buf)) == list(arrays)


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_archives_are_refused(tmp_path, name):
    path = tmp_path / f"{name}.npz"
    path.write_bytes(CRAFTED[name])
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as err:
            load_npz(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(err.value)
    assert peak < 1 << 20


def test_size_limit(tmp_path):
    np.savez_compressed(tmp_path / "z.npz", a=np.zeros(1 << 16))  # 512 KiB, compresses well
    assert (tmp_path / "z.npz").stat().st_size < 10_000
    with pytest.raises(ValueError, match="members would hold 524416 bytes uncompressed"):
        load_npz(tmp_path / "z.npz", max_bytes=100_000)
    assert load_npz(tmp_path / "z.npz", max_bytes=600_000)["a"].shape == (1 << 16,)
