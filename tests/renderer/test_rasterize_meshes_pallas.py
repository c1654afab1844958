"""The Pallas fine stage (interpreted on CPU) gives the same fragments as the XLA path."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jax3d.renderer.binned_search import select_nearest
from jax3d.renderer.mesh.rasterize_meshes import rasterize_face_verts
from jax3d.renderer.mesh.rasterize_meshes_pallas import select_nearest_iterative
from tests.renderer.test_rasterize_meshes import random_scene


@pytest.mark.parametrize("K, blur, persp", [(1, 0.0, False), (3, 1e-3, True)])
def test_pallas_matches_xla(K, blur, persp):
    fv, nf = random_scene(12 + K, N=2, F=20, num_faces=[20, 11])
    kw = dict(image_size=(12, 17), blur_radius=blur, faces_per_pixel=K, bin_size=8,
              perspective_correct=persp, clip_barycentric_coords=blur > 0)
    a = rasterize_face_verts(fv, nf, **kw)
    b = rasterize_face_verts(fv, nf, backend="pallas", **kw)
    assert (np.asarray(a[0]) >= 0).any()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.slow
def test_pallas_under_jit_with_overflow_fallback():
    fv, nf = random_scene(20, N=1, F=15)
    kw = dict(image_size=8, blur_radius=1e-3, faces_per_pixel=2, bin_size=4)
    a = rasterize_face_verts(fv, nf, **kw)
    b = jax.jit(lambda f: rasterize_face_verts(f, nf, backend="pallas", max_faces_per_bin=1,
                                               **kw))(fv)
    np.testing.assert_array_equal(np.asarray(a[0]), np.asarray(b[0]))


def test_iterative_selection_equals_top_k_with_ties():
    rng = np.random.default_rng(0)
    key = rng.integers(0, 4, (16, 9)).astype(np.float32)  # many exact ties
    key[rng.uniform(size=key.shape) < 0.3] = np.inf
    slot = np.tile(np.arange(9, dtype=np.int32) * 2, (16, 1))
    for K in (1, 3, 12):
        np.testing.assert_array_equal(np.asarray(select_nearest_iterative(key, slot, K)),
                                      np.asarray(select_nearest(key, slot, K)))
