"""The restricted unpickler: legitimate model pickles load exactly; crafted ones give a
ValueError naming the file, quickly, without running code or allocating what they claim."""

from __future__ import annotations

import pickle
import time
import tracemalloc
from collections import OrderedDict

import numpy as np
import pytest

from jax3d.io import restricted_load
from jax3d.io.restricted_pickle import ALLOC_SLACK
from tests.io.fuzz_special import crafted_pickles

CRAFTED = crafted_pickles()


def weights():
    """What the LPIPS weight pickles and SMPL files hold: nested dicts of arrays and more."""
    rng = np.random.default_rng(0)
    return {
        "lin0": {"model.1.weight": rng.random((1, 64, 1, 1)).astype(np.float32)},
        "net": OrderedDict(
            a=np.arange(5),
            b=np.float64(3.5),
            c=np.asfortranarray(rng.random((2, 3))).astype(">f8"),
            d=np.zeros((0, 4), np.int16),
            e=[np.bool_(True), np.complex64(1 + 2j), np.uint8(7)],
            f={"s": {1, 2}, "fs": frozenset("ab"), "t": (1.5, None, "x", b"y", b"", slice(1, 2))},
            g=np.array(2.0, np.float16),
            h=rng.random((3, 4))[:, ::2],  # not contiguous
        ),
    }


def assert_same(a, b):
    if isinstance(a, dict):
        assert type(b) is dict and list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert type(a) is type(b) and a.dtype == b.dtype and np.shape(a) == np.shape(b)
        np.testing.assert_array_equal(a, b)
        if isinstance(a, np.ndarray):
            assert b.flags.writeable and (
                a.flags.f_contiguous == b.flags.f_contiguous or a.ndim < 2
            )
    else:
        assert a == b and type(a) is type(b)


@pytest.mark.parametrize("protocol", range(6))
def test_numpy_pickles_load_exactly(protocol):
    w = weights()
    assert_same(w, restricted_load(pickle.dumps(w, protocol=protocol)))


@pytest.mark.parametrize("protocol", [0, 1, 2])
def test_numpy_1_names_load(protocol):
    """NumPy 1 wrote ``numpy.core.multiarray``; NumPy 2 writes ``numpy._core.multiarray``."""
    data = pickle.dumps(weights(), protocol=protocol).replace(b"numpy._core", b"numpy.core")
    assert b"numpy.core.multiarray" in data
    assert_same(weights(), restricted_load(data))


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_crafted_pickles_are_refused(tmp_path, name):
    path = tmp_path / f"{name}.pkl"
    path.write_bytes(CRAFTED[name])
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError) as err:
            restricted_load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(err.value)
    assert time.perf_counter() - start < 5.0
    assert peak < ALLOC_SLACK + (16 << 20), f"{name} allocated {peak / 2**20:.0f} MiB"


def test_allocation_budget_and_keywords(tmp_path):
    big = {"x": np.zeros(1 << 20)}  # 8 MiB of data in an 8 MiB file: within the default budget
    path = tmp_path / "big.pkl"
    path.write_bytes(pickle.dumps(big, protocol=2))
    assert restricted_load(path)["x"].shape == (1 << 20,)
    with pytest.raises(ValueError, match="more than the limit of 1000000 .*max_alloc_bytes"):
        restricted_load(path, max_alloc_bytes=1_000_000)
    with pytest.raises(ValueError, match="larger than the limit of 1000 bytes"):
        restricted_load(path, max_bytes=1000)


def test_shared_parts_are_converted_once():
    a = np.arange(3.0)
    out = restricted_load(pickle.dumps({"p": a, "q": [a, a]}, protocol=2))
    assert out["q"][0] is out["q"][1] is out["p"]


def test_no_code_runs_and_state_does_not_leak(tmp_path):
    """A pickle that tries to alter a whitelisted function fails, and the next load works."""
    with pytest.raises(ValueError, match="read-only"):
        restricted_load(CRAFTED["build_on_global"])
    assert_same(weights(), restricted_load(pickle.dumps(weights(), protocol=2)))
