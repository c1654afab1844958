"""Materials: PyTorch3D defaults, batching, validation, pytree behaviour."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jax3d.renderer import Materials


def test_defaults():
    m = Materials()
    for name in ("ambient_color", "diffuse_color", "specular_color"):
        np.testing.assert_allclose(np.asarray(getattr(m, name)), [[1.0, 1.0, 1.0]])
    np.testing.assert_allclose(np.asarray(m.shininess), [64.0])


def test_batched_values_and_shapes():
    m = Materials(specular_color=[(1, 0, 0), (0, 1, 0)], shininess=[10, 20])
    assert m.specular_color.shape == (2, 3) and m.shininess.shape == (2,)
    assert m.specular_color.dtype == np.float32
    m1 = Materials(ambient_color=(0.1, 0.2, 0.3))
    np.testing.assert_allclose(np.asarray(m1.ambient_color), [[0.1, 0.2, 0.3]], rtol=1e-6)


def test_pytree_jit_roundtrip():
    m = Materials(shininess=15.0)
    out = jax.jit(lambda x: x.replace(shininess=x.shininess * 2))(m)
    np.testing.assert_allclose(np.asarray(out.shininess), [30.0])
    assert len(jax.tree.leaves(m)) == 4


def test_validation():
    with pytest.raises(ValueError, match="specular_color"):
        Materials(specular_color=(1.0, 0.0))
    with pytest.raises(ValueError, match="shininess"):
        Materials(shininess=np.ones((2, 2)))
    with pytest.raises(TypeError, match="diffuse_color"):
        Materials(diffuse_color="red")
