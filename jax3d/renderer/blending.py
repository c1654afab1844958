"""Blending the K faces per pixel into an RGBA image (PyTorch3D's ``blending``).

``hard_rgb_blend`` keeps the nearest face; ``sigmoid_alpha_blend`` turns signed distances into
soft coverage (SoftRas silhouettes); ``softmax_rgb_blend`` also mixes colours with a depth
softmax (SoftRas). All take ``colors (N, H, W, K, C)`` and :class:`Fragments` and return
``(N, H, W, C + 1)`` images whose last channel is alpha.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

__all__ = ["BlendParams", "hard_rgb_blend", "sigmoid_alpha_blend", "softmax_rgb_blend"]

_EPS = 1e-10


@dataclasses.dataclass(frozen=True)
class BlendParams:
    """Static blending settings.

    Attributes:
        sigma: > 0, width of the sigmoid that turns squared NDC distance into coverage.
        gamma: > 0, temperature of the depth softmax (smaller -> nearer face wins).
        background_color: RGB (or C values) of empty pixels.
    """

    sigma: float = 1e-4
    gamma: float = 1e-4
    background_color: tuple[float, ...] = (1.0, 1.0, 1.0)

    def __post_init__(self):
        for name in ("sigma", "gamma"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"BlendParams.{name} must be a positive float, got {value!r}")
        bg = tuple(float(c) for c in self.background_color)
        object.__setattr__(self, "background_color", bg)

    # PyTorch3D's BlendParams is a NamedTuple; ported code uses its API.
    _fields = ("sigma", "gamma", "background_color")

    def _replace(self, **changes) -> BlendParams:
        """A copy with `changes` (NamedTuple's `_replace`; validated like the constructor)."""
        unknown = sorted(set(changes) - set(self._fields))
        if unknown:
            raise ValueError(f"BlendParams._replace: unknown field(s) {unknown}; fields are "
                             f"{list(self._fields)}")  # fmt: skip
        return dataclasses.replace(self, **changes)

    def _asdict(self) -> dict:
        """The fields as a dict (NamedTuple's `_asdict`)."""
        return {name: getattr(self, name) for name in self._fields}


def _check(colors, fragments, name: str = "colors") -> jax.Array:
    colors = jnp.asarray(colors)
    shape = tuple(fragments.pix_to_face.shape)
    if colors.ndim != 5 or tuple(colors.shape[:4]) != shape:
        raise ValueError(f"{name} must be (N, H, W, K, C) with (N, H, W, K) = {shape}, got "
                         f"{tuple(colors.shape)}")  # fmt: skip
    return colors


def _background(blend_params: BlendParams, channels: int) -> jax.Array:
    bg = jnp.asarray(blend_params.background_color, jnp.float32)
    if bg.shape[0] != channels:
        raise ValueError(f"background_color has {bg.shape[0]} values but colors have "
                         f"{channels} channels")  # fmt: skip
    return bg


def hard_rgb_blend(colors: jax.Array, fragments, blend_params: BlendParams) -> jax.Array:
    """Colour of the nearest face; background where no face hits.

    Args:
        colors: (N, H, W, K, C) float32 per-face colours.
        fragments: ``Fragments`` with ``pix_to_face (N, H, W, K)``.
        blend_params: :class:`BlendParams` (background colour).

    Returns:
        (N, H, W, C + 1) float32; alpha is 1 where ``pix_to_face[..., 0] >= 0``, else 0.
    """
    colors = _check(colors, fragments)
    bg = _background(blend_params, colors.shape[-1])
    hit = (fragments.pix_to_face[..., 0] >= 0)[..., None]
    rgb = jnp.where(hit, colors[..., 0, :], bg)
    return jnp.concatenate([rgb, hit.astype(rgb.dtype)], axis=-1)


def _coverage(fragments, sigma: float) -> tuple[jax.Array, jax.Array]:
    """(prob (N, H, W, K) = sigmoid(-dists / sigma) on hit faces, mask (N, H, W, K) bool)."""
    mask = fragments.pix_to_face >= 0
    prob = jax.nn.sigmoid(-fragments.dists / sigma) * mask
    return prob, mask


def sigmoid_alpha_blend(colors: jax.Array, fragments, blend_params: BlendParams) -> jax.Array:
    """Soft silhouette: ``alpha = 1 - prod_k (1 - sigmoid(-d_k / sigma))``.

    Args:
        colors: (N, H, W, K, C) float32; the output colour is that of ``k = 0``.
        fragments: ``Fragments`` (``pix_to_face``, ``dists`` (N, H, W, K)).
        blend_params: :class:`BlendParams` (``sigma``).

    Returns:
        (N, H, W, C + 1) float32.
    """
    colors = _check(colors, fragments)
    prob, _ = _coverage(fragments, blend_params.sigma)
    alpha = 1.0 - jnp.prod(1.0 - prob, axis=-1)
    return jnp.concatenate([colors[..., 0, :], alpha[..., None]], axis=-1)


def _per_mesh(x, ndim: int) -> jax.Array:
    x = jnp.asarray(x, jnp.float32)
    return x.reshape((-1,) + (1,) * (ndim - 1)) if x.ndim else x


def softmax_rgb_blend(
    colors: jax.Array, fragments, blend_params: BlendParams, znear=1.0, zfar=100.0
) -> jax.Array:
    """SoftRas blending: colours weighted by coverage and a depth softmax, plus background.

    With ``D_k = sigmoid(-dists_k / sigma)`` on hit faces, ``z_k = (zfar - zbuf_k) /
    (zfar - znear)`` (inverse depth in [0, 1]), ``w_k = D_k exp((z_k - max z) / gamma)``
    and ``delta = max(exp((eps - max z) / gamma), eps)``:
    ``rgb = (sum_k w_k c_k + delta bg) / (sum_k w_k + delta)``, ``alpha = 1 - prod(1 - D_k)``.

    Args:
        colors: (N, H, W, K, C) float32.
        fragments: ``Fragments`` (``pix_to_face``, ``zbuf``, ``dists`` (N, H, W, K)).
        blend_params: :class:`BlendParams`.
        znear, zfar: scalars or (N,) float32 (per mesh), e.g. the cameras' planes.

    Returns:
        (N, H, W, C + 1) float32.
    """
    colors = _check(colors, fragments)
    bg = _background(blend_params, colors.shape[-1])
    prob, mask = _coverage(fragments, blend_params.sigma)
    alpha = jnp.prod(1.0 - prob, axis=-1)
    znear, zfar = _per_mesh(znear, 4), _per_mesh(zfar, 4)
    z_inv = (zfar - fragments.zbuf) / (zfar - znear) * mask
    z_inv_max = jnp.maximum(jnp.max(z_inv, axis=-1, keepdims=True), _EPS)
    weights = prob * jnp.exp((z_inv - z_inv_max) / blend_params.gamma)
    delta = jnp.maximum(jnp.exp((_EPS - z_inv_max) / blend_params.gamma), _EPS)
    denom = jnp.sum(weights, axis=-1, keepdims=True) + delta
    rgb = (jnp.sum(weights[..., None] * colors, axis=-2) + delta * bg) / denom
    return jnp.concatenate([rgb, 1.0 - alpha[..., None]], axis=-1)
