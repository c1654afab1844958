"""The GIRAFFE generator: object and background feature fields composited along camera rays,
volume-rendered into a small feature image, then neurally rendered into RGB.

Rays come from jax3d's `MultinomialRaysampler` on `FoVPerspectiveCameras`: one ray through each
of the `resolution_vol^2` points of a regular grid whose outer rays pass through the corners of
the field of view (the authors' pixel grid, `linspace(-1, 1)`), sampled at view depths
`depth_range` (jittered within their strata while training, as the authors'
`add_noise_to_interval`). The
composited densities and features are marched with `alpha_composite` (NeRF's quadrature, the
last interval 1e10 long, so every ray ends opaque on the background).
"""

from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jax3d.models.giraffe.composition import box_mask, composite, composite_max
from jax3d.models.giraffe.config import ModelConfig
from jax3d.models.giraffe.field import FeatureField
from jax3d.models.giraffe.neural_renderer import NeuralRenderer
from jax3d.models.giraffe.scene import Scene, check_scene, fast_key
from jax3d.renderer.cameras import FoVPerspectiveCameras
from jax3d.renderer.implicit import MultinomialRaysampler, alpha_composite

__all__ = ["Generator", "VolumeRenderOutput", "render_rays", "training_noise"]

_LAST_INTERVAL = 1e10


class VolumeRenderOutput(NamedTuple):
    """What `Generator.volume_render` returns.

    features: (B, h, w, C) volume-rendered features (h = w = resolution_vol).
    object_alpha: (B, N, h, w) opacity of each object alone along each ray (the authors'
        `return_alpha_map`: its own density only, no last infinite interval).
    depth: (B, h, w) expected view depth of the composited scene.
    """

    features: jax.Array
    object_alpha: jax.Array
    depth: jax.Array


def render_rays(config: ModelConfig, scene: Scene, jitter: jax.Array | None = None):
    """The rays of the volume render: `(points (B, R, S, 3), directions (B, R, 3),
    lengths (B, R, S), deltas (B, R, S))` in world coordinates, `R = resolution_vol^2`.

    `deltas` are the intervals between samples measured along the (non-unit) directions,
    the last one `1e10` long. With `jitter (B, R, S)` uniform in [0, 1), each depth moves to
    that fraction of its stratum (the midpoints to its neighbours: the formula of
    `jiggle_within_stratas` and of the authors' `add_noise_to_interval`).
    """
    gen = config.generator
    res = gen.resolution_vol
    cameras = FoVPerspectiveCameras(R=scene.camera_R, T=scene.camera_T, fov=gen.fov,
                                    znear=0.5 * gen.depth_range[0],
                                    zfar=2.0 * gen.depth_range[1])  # fmt: skip
    sampler = MultinomialRaysampler(
        min_x=-1.0, max_x=1.0, min_y=-1.0, max_y=1.0, image_width=res, image_height=res,
        n_pts_per_ray=gen.n_ray_samples, min_depth=gen.depth_range[0],
        max_depth=gen.depth_range[1],
    )  # fmt: skip
    rays = sampler(cameras)
    b = scene.batch_size
    origins = rays.origins.reshape(b, -1, 3)
    directions = rays.directions.reshape(b, -1, 3)
    lengths = rays.lengths.reshape(b, res * res, -1)
    if jitter is not None:
        mids = 0.5 * (lengths[..., 1:] + lengths[..., :-1])
        upper = jnp.concatenate([mids, lengths[..., -1:]], axis=-1)
        lower = jnp.concatenate([lengths[..., :1], mids], axis=-1)
        lengths = lower + (upper - lower) * jitter
    points = origins[:, :, None] + lengths[..., None] * directions[:, :, None]
    norm = jnp.linalg.norm(directions, axis=-1, keepdims=True)
    gaps = jnp.diff(lengths, axis=-1)
    deltas = jnp.concatenate([gaps, jnp.full_like(lengths[..., :1], _LAST_INTERVAL)], -1) * norm
    return points, directions, lengths, deltas


def training_noise(key: jax.Array, batch_size: int, n_rays: int, n_samples: int,
                   n_fields: int) -> tuple[jax.Array, jax.Array]:  # fmt: skip
    """`(jitter (B, R, S) uniform in [0, 1), density noise (B, K, R, S) ~ N(0, 1))` from one
    uniform draw of `fast_key(key)` (the normals by the inverse CDF): one random-number kernel
    whose compile time does not grow with its size."""
    u = jax.random.uniform(fast_key(key), (batch_size, n_fields + 1, n_rays, n_samples))
    tiny = jnp.finfo(jnp.float32).eps
    normal = jax.scipy.special.ndtri(jnp.clip(u[:, 1:], tiny, 1.0 - tiny))
    return u[:, 0], normal


class Generator(nn.Module):
    """GIRAFFE's generator (the authors' `Generator` with its decoder, background generator
    and neural renderer).

    Attributes:
        config: `ModelConfig`.

    Call `generator.apply(variables, scene, key=None)`:
        scene: a `Scene` (`sample_scene`, or built for a control).
        key: PRNG key for training-mode randomness (stratified depths and density noise);
            None renders deterministically (the authors' `mode="val"`).

    Returns `(B, img_size, img_size, 3)` images in [0, 1] (sigmoid output). The volume render
    alone is `apply(..., method=Generator.volume_render)`.
    """

    config: ModelConfig

    def setup(self):
        c = self.config
        self.decoder = FeatureField(c.decoder)
        self.background_generator = FeatureField(c.background)
        if c.neural_renderer is not None:
            self.neural_renderer = NeuralRenderer(c.neural_renderer, c.n_upsampling_blocks)

    def __call__(self, scene: Scene, key: jax.Array | None = None) -> jax.Array:
        return self.render(scene, key)[0]

    def render(
        self, scene: Scene, key: jax.Array | None = None
    ) -> tuple[jax.Array, VolumeRenderOutput]:
        """`(images (B, H, W, 3), VolumeRenderOutput)`: the image and what it came from (the
        feature image, each object's alpha, the depth), for the controls' measures."""
        out = self.volume_render(scene, key)
        if self.config.neural_renderer is None:
            return out.features, out
        return self.neural_renderer(out.features), out

    def _objects(self, scene: Scene, points, directions, noise):
        """(B, N, R, S) masked raw densities and (B, N, R, S, C) features of every slot."""
        b, r, s = points.shape[:3]
        n = scene.n_objects
        t = scene.transforms
        # Box coordinates R (p - t) / s (rotation (B, N, 3, 3) applied to column vectors).
        rel = points.reshape(b, 1, r * s, 3) - t.translation[:, :, None]
        p_box = jnp.einsum("bnij,bnpj->bnpi", t.rotation, rel) / t.scale[:, :, None]
        d_rep = jnp.repeat(directions, s, axis=1)  # (B, R S, 3), ray-major like the points
        d_box = jnp.einsum("bnij,bpj->bnpi", t.rotation, d_rep) / t.scale[:, :, None]
        lat = scene.latents
        sigma, feat = self.decoder(
            p_box.reshape(b * n, r * s, 3), d_box.reshape(b * n, r * s, 3),
            lat.z_shape_obj.reshape(b * n, -1), lat.z_app_obj.reshape(b * n, -1),
        )  # fmt: skip
        sigma = sigma.reshape(b, n, r * s)
        if noise is not None:
            sigma = sigma + self.config.generator.density_noise * noise.reshape(b, n, r * s)
        inside = box_mask(p_box, self.config.generator.box_padding)
        sigma = jnp.where(inside, sigma, 0.0) * scene.object_mask[:, :, None]
        return sigma.reshape(b, n, r, s), feat.reshape(b, n, r, s, -1)

    def _background(self, scene: Scene, points, directions, noise):
        """(B, R, S) raw density and (B, R, S, C) features of the background field."""
        b, r, s = points.shape[:3]
        p_bg = jnp.einsum("bpj,bij->bpi", points.reshape(b, r * s, 3), scene.bg_rotation)
        d_bg = jnp.einsum("bpj,bij->bpi", jnp.repeat(directions, s, axis=1), scene.bg_rotation)
        lat = scene.latents
        sigma, feat = self.background_generator(p_bg, d_bg, lat.z_shape_bg, lat.z_app_bg)
        if noise is not None:
            sigma = sigma + self.config.generator.density_noise * noise.reshape(b, r * s)
        return sigma.reshape(b, r, s), feat.reshape(b, r, s, -1)

    def volume_render(
        self,
        scene: Scene,
        key: jax.Array | None = None,
        *,
        render_background: bool = True,
        render_objects: bool = True,
    ) -> VolumeRenderOutput:
        """Composite the fields along the rays and march them into a feature image.

        Args:
            scene: the batch of scenes.
            key: training-mode randomness, or None (deterministic).
            render_background, render_objects: static; drop the background (the authors'
                `not_render_background`) or the objects (`only_render_background`).

        Returns:
            `VolumeRenderOutput`.
        """
        c = self.config
        check_scene(scene, c)
        if not (render_background or render_objects):
            raise ValueError("render at least the background or the objects")
        res, n = c.generator.resolution_vol, scene.n_objects
        jitter = noise_o = noise_b = None
        if key is not None:
            jitter, noise = training_noise(key, scene.batch_size, res * res,
                                           c.generator.n_ray_samples, n + 1)  # fmt: skip
            noise_o, noise_b = noise[:, :n], noise[:, n]
        points, directions, lengths, deltas = render_rays(c, scene, jitter)
        b, r, s = points.shape[:3]
        sigmas, feats = [], []
        if render_objects and n > 0:
            sigma_o, feat_o = self._objects(scene, points, directions, noise_o)
            sigmas += [sigma_o[:, i] for i in range(n)]
            feats += [feat_o[:, i] for i in range(n)]
            obj_sigma = jax.nn.relu(sigma_o)
        else:
            obj_sigma = jnp.zeros((b, n, r, s), jnp.float32)
        if render_background:
            sigma_b, feat_b = self._background(scene, points, directions, noise_b)
            sigmas.append(sigma_b)
            feats.append(feat_b)
        sigma = jax.nn.relu(jnp.stack(sigmas))
        feat = jnp.stack(feats)
        op = composite_max if c.generator.use_max_composition else composite
        sigma_sum, feat_sum = op(sigma, feat)
        out = alpha_composite(sigma_sum, deltas, feat_sum)
        expected_depth = jnp.sum(out.weights * lengths, axis=-1)
        # Each object alone, without the last infinite interval (its own opacity).
        deltas_open = deltas.at[..., -1].set(0.0)
        tau = jnp.sum(obj_sigma * deltas_open[:, None], axis=-1)  # (B, N, R)
        alpha = -jnp.expm1(-tau)
        return VolumeRenderOutput(
            features=out.features.reshape(b, res, res, -1),
            object_alpha=alpha.reshape(b, n, res, res),
            depth=expected_depth.reshape(b, res, res),
        )
