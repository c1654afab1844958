import pytest

from jax3d.datasets import DataNotFoundError, data_path, has_data


def test_unset_raises_clear_error(monkeypatch):
    monkeypatch.delenv("JAX3D_DATA", raising=False)
    with pytest.raises(DataNotFoundError, match="JAX3D_DATA is not set"):
        data_path("meshes/cow_mesh/cow.obj")
    assert not has_data("meshes/cow_mesh/cow.obj")


def test_resolves_inside_root(monkeypatch, tmp_path):
    (tmp_path / "meshes").mkdir()
    (tmp_path / "meshes" / "a.obj").write_text("v 0 0 0\n")
    monkeypatch.setenv("JAX3D_DATA", str(tmp_path))
    assert data_path("meshes/a.obj") == (tmp_path / "meshes" / "a.obj").resolve()
    assert has_data("meshes/a.obj")
    with pytest.raises(DataNotFoundError, match="not found"):
        data_path("meshes/b.obj")


def test_refuses_escape(monkeypatch, tmp_path):
    monkeypatch.setenv("JAX3D_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="leaves the data root"):
        data_path("../etc/passwd")
