"""SMPL model files: .pkl/.npz round trips, chumpy and sparse stand-ins, refusing unsafe pickles."""

from __future__ import annotations

import os
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse

from jax3d.models.smpl import (
    load_smpl,
    restricted_load,
    save_smpl,
    smpl_model_to_arrays,
    synthetic_body_model,
)


@pytest.fixture(scope="module")
def model():
    return synthetic_body_model(1, num_betas=6, n_around=8, n_cap=2, n_mid=1)


def assert_same_model(a, b):
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "faces"):
        np.testing.assert_array_equal(np.asarray(getattr(a, key)), np.asarray(getattr(b, key)), key)
    assert a.kintree_table == b.kintree_table and a.model_type == b.model_type == "smpl"


@pytest.mark.parametrize("suffix", [".pkl", ".npz"])
def test_round_trip(model, tmp_path, suffix):
    path = save_smpl(tmp_path / f"body{suffix}", model)
    loaded = load_smpl(path)
    assert_same_model(model, loaded)
    assert load_smpl(path, num_betas=3).num_betas == 3


@pytest.fixture
def fake_chumpy(monkeypatch):
    """A stand-in `chumpy.ch.Ch` (only for writing test pickles; the loader never imports it)."""

    class Ch:
        def __init__(self, x):
            self.x = np.asarray(x)

        def __getstate__(self):  # chumpy's state also holds sets, labels and numpy scalars
            return {"x": self.x, "_dirty_vars": {"x"}, "label": None, "_itr": np.int64(3)}

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    ch_mod = types.ModuleType("chumpy.ch")
    ch_mod.Ch = Ch
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch", ch_mod)
    return Ch


@pytest.mark.parametrize("protocol", [0, 2])
def test_official_layout_with_chumpy_and_sparse(
    model, tmp_path, fake_chumpy, monkeypatch, protocol
):
    d = smpl_model_to_arrays(model)
    d["shapedirs"] = fake_chumpy(d["shapedirs"])
    d["v_template"] = fake_chumpy(d["v_template"])
    d["J_regressor"] = scipy.sparse.csc_matrix(d["J_regressor"])
    d["kintree_table"] = d["kintree_table"].astype(np.int64)
    path = tmp_path / "official.pkl"
    path.write_bytes(pickle.dumps(d, protocol=protocol))
    monkeypatch.delitem(sys.modules, "chumpy.ch")  # the loader must not need it
    loaded = load_smpl(path)
    assert_same_model(model, loaded)


def test_sparse_csr_rebuilt_without_scipy(tmp_path):
    dense = np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]])
    for sparse in (scipy.sparse.csc_matrix(dense), scipy.sparse.csr_matrix(dense)):
        got = restricted_load(pickle.dumps({"m": sparse}, protocol=2))["m"]
        np.testing.assert_array_equal(got, dense)


def test_chumpy_object_without_array_is_refused(fake_chumpy):
    obj = fake_chumpy(np.zeros(3))
    obj.__class__.__getstate__ = lambda self: {"a": 1}
    with pytest.raises(ValueError, match="chumpy.ch.Ch has no array state"):
        restricted_load(pickle.dumps({"v": obj}, protocol=2))


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize(
    "name, payload",
    [
        ("os.system", lambda marker: f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()),
        ("posix.system", lambda marker: pickle.dumps(_Evil(os.system, f"touch {marker}"), 2)),
        ("builtins.eval", lambda marker: pickle.dumps(_Evil(eval, f"open({str(marker)!r}, 'w')"))),
        (
            "subprocess.Popen",
            lambda marker: f"csubprocess\nPopen\n((S'touch'\nS'{marker}'\nltR.".encode(),
        ),
    ],
)
def test_malicious_pickle_is_refused(tmp_path, name, payload):
    marker = tmp_path / "pwned"
    data = payload(marker)
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=f"refusing to unpickle global {name}"):
        load_smpl(path)
    with pytest.raises(ValueError, match=name.replace(".", r"\.")):
        restricted_load(data)
    assert not marker.exists()  # the side effect never happened


def test_malicious_object_nested_in_model_dict(model, tmp_path):
    d = smpl_model_to_arrays(model)
    d["weights"] = _Evil(os.system, f"touch {tmp_path / 'pwned'}")
    path = tmp_path / "nested.pkl"
    path.write_bytes(pickle.dumps(d, protocol=2))
    with pytest.raises(ValueError, match="posix.system"):
        load_smpl(path)
    assert not (tmp_path / "pwned").exists()


def test_missing_and_misshaped_keys_are_named(model, tmp_path):
    d = smpl_model_to_arrays(model)
    del d["posedirs"]
    np.savez(tmp_path / "missing.npz", **d)
    with pytest.raises(ValueError, match="missing key 'posedirs'"):
        load_smpl(tmp_path / "missing.npz")
    d = smpl_model_to_arrays(model)
    d["weights"] = d["weights"][:, :20]
    np.savez(tmp_path / "bad.npz", **d)
    with pytest.raises(ValueError, match=r"bad.npz: SMPL model key 'weights' has shape"):
        load_smpl(tmp_path / "bad.npz")


def test_other_errors(model, tmp_path):
    with pytest.raises(FileNotFoundError):
        load_smpl(tmp_path / "nope.pkl")
    (tmp_path / "x.obj").write_text("v 0 0 0\n")
    with pytest.raises(ValueError, match="unknown SMPL model format"):
        load_smpl(tmp_path / "x.obj")
    (tmp_path / "trunc.pkl").write_bytes(pickle.dumps(smpl_model_to_arrays(model), 2)[:100])
    with pytest.raises(ValueError, match="malformed pickle"):
        load_smpl(tmp_path / "trunc.pkl")


def test_python2_gmm_file_loads(data):
    gmm = restricted_load(data("smplify/gmm_08.pkl"))
    assert gmm["means"].shape == (8, 69) and gmm["covars"].shape == (8, 69, 69)
    np.testing.assert_allclose(gmm["weights"].sum(), 1.0, atol=1e-6)
