"""A few NeRF steps data-parallel over every device of the run, printing a parameter digest.

As one of two processes (`JAX3D_COORDINATOR`, `JAX3D_NUM_PROCESSES=2`, `JAX3D_PROCESS_ID`),
it joins with `jax3d.train.initialize_distributed` (one CPU device per process); alone with
two forced CPU devices it is the single-host reference. Used by test_multihost.py."""

from __future__ import annotations

import hashlib
import json
import os
import sys

import jax

if os.environ.get("JAX3D_NUM_PROCESSES"):
    from jax3d.train import initialize_distributed

    initialize_distributed()

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from jax3d.models.nerf import NeRFTrainConfig, NeuralRadianceField, train  # noqa: E402
from jax3d.renderer.cameras import FoVPerspectiveCameras, look_at_view_transform  # noqa: E402
from jax3d.train import make_data_mesh  # noqa: E402


def main(directory: str | None):
    n = 6
    R, T = look_at_view_transform(dist=2.7, elev=0.0, azim=jnp.linspace(-180, 180, n + 1)[:n])
    cams = FoVPerspectiveCameras(R=R, T=T, znear=0.1)
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(n, 8, 8, 3)).astype(np.float32)
    sil = (rng.uniform(size=(n, 8, 8)) > 0.5).astype(np.float32)
    config = NeRFTrainConfig(n_iter=4, batch_size=2, n_rays_per_image=16, n_pts_per_ray=8)
    model = NeuralRadianceField(n_harmonic_functions=3, n_hidden_neurons=8)
    mesh = make_data_mesh()
    state, history = train(model, cams, images, sil, key=jax.random.PRNGKey(0), config=config,
                           mesh=mesh, progress=False, directory=directory)  # fmt: skip
    # the parameters are replicated: every process's local copy is the whole array
    params = [np.asarray(x.addressable_data(0)) for x in jax.tree.leaves(state.params)]
    digest = hashlib.sha256(b"".join(np.asarray(p).tobytes() for p in params)).hexdigest()
    print("RESULT " + json.dumps({
        "process": jax.process_index(), "processes": jax.process_count(),
        "devices": jax.device_count(), "mesh_devices": int(mesh.devices.size),
        "losses": history["loss"], "digest": digest,
        "params": [np.asarray(p).ravel()[:4].tolist() for p in params],
    }))  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
