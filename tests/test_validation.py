"""Value checks (jax3d.validation): eager ValueErrors, checkify errors under jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.experimental import checkify

from jax3d.renderer import FoVPerspectiveCameras, PerspectiveCameras
from jax3d.structures import Meshes, Pointclouds
from jax3d.validation import check_finite, check_values

_FACES = np.array([[0, 1, 2]], np.int32)


def test_eager_checks_name_the_argument_and_the_value():
    check_finite("x", np.ones(3))
    check_finite("idx", np.arange(3))  # integers are always finite
    with pytest.raises(ValueError, match=r"verts\[1\] must be finite, got nan at index \(2, 0\)"):
        check_finite("verts[1]", np.array([[0.0, 0, 0]] * 2 + [[np.nan, 0, 0]]))
    with pytest.raises(ValueError, match=r"fov must be in \(0, 180\), got \[30.0, 180.0\]"):
        check_values("fov", np.array([30.0, 180.0]), lambda f: (f > 0) & (f < 180), "in (0, 180)")
    # padding rows are reset before the check, so NaN there is harmless
    verts = np.array([[[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [np.nan, 0, 0]]], np.float32)
    Meshes(verts, _FACES[None], num_verts=[3])


@jax.jit
def _build(verts, fov, focal):
    meshes = Meshes(verts[None], jnp.asarray(_FACES)[None])
    clouds = Pointclouds(verts[None])
    cams = FoVPerspectiveCameras(fov=fov)
    sfm = PerspectiveCameras(focal_length=focal)
    return meshes.verts_padded().sum() + clouds.points_padded().sum() + cams.fov + sfm.T.sum()


_GOOD = (jnp.eye(3), jnp.float32(60.0), jnp.float32(2.0))


@pytest.mark.parametrize("index, value, argument", [
    (0, jnp.eye(3).at[1, 1].set(jnp.inf), "verts must be finite"),
    (1, jnp.float32(180.0), "fov must be in (0, 180) degrees"),
    (2, jnp.float32(-1.0), "focal_length must be positive"),
])  # fmt: skip
def test_traced_values_are_checkify_checks(index, value, argument):
    args = list(_GOOD)
    args[index] = value
    assert np.all(np.isfinite(_build(*args))) or index == 0  # no error without checkify
    err, _ = checkify.checkify(_build, errors=checkify.user_checks)(*args)
    assert argument in str(err.get())
    err, _ = checkify.checkify(_build, errors=checkify.user_checks)(*_GOOD)
    assert err.get() is None
