"""PyTorch3D's ``renderer.utils``: ``TensorProperties``, ``convert_to_tensors_and_broadcast``,
``ndc_grid_sample`` and ``ndc_to_grid_sample_coords``.

Shapes: ``B`` batch, ``C`` channels, ``H``, ``W`` image height and width.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jax3d.device import DeviceMethods, device_put

__all__ = [
    "TensorProperties",
    "convert_to_tensors_and_broadcast",
    "ndc_grid_sample",
    "ndc_to_grid_sample_coords",
]

Array = jax.Array


def _format(value, dtype, index: int) -> Array:
    """A scalar, list or array as an array with a leading batch axis (scalars -> (1,))."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"args[{index}] must be a number or an array, got {value!r}")
    arr = value if isinstance(value, jax.Array) else jnp.asarray(np.asarray(value), dtype)
    return arr.reshape(1) if arr.ndim == 0 else arr


def convert_to_tensors_and_broadcast(*args, dtype=jnp.float32, device=None) -> list[Array]:
    """Bring values to one batch size ``N`` (PyTorch3D's helper of the same name).

    Args:
      *args: Python scalars, lists or arrays of shape ``(N, K_i...)`` or ``(1, K_i...)``.
      dtype: dtype of the values given as Python numbers or lists (arrays keep theirs).
      device: ``jax3d.device`` meaning (None: JAX's default placement).

    Returns:
      list of arrays ``(N, K_i...)``, where N is the largest leading size.

    Raises:
      ValueError: a leading size other than 1 and N.
    """
    arrays = [_format(a, dtype, i) for i, a in enumerate(args)]
    sizes = [a.shape[0] for a in arrays]
    n = max(sizes, default=0)
    if any(s not in (1, n) for s in sizes):
        raise ValueError(f"got non-broadcastable batch sizes {sizes}")
    out = [jnp.broadcast_to(a, (n, *a.shape[1:])) for a in arrays]
    return device_put(out, device)


@jax.tree_util.register_pytree_node_class
class TensorProperties(DeviceMethods):
    """Batched properties (PyTorch3D's base of cameras, lights and materials), immutable.

    ``TensorProperties(dtype=float32, device=None, **kwargs)``: numeric keyword values
    (scalars, lists, arrays) are broadcast to one batch size ``N`` with
    :func:`convert_to_tensors_and_broadcast` and become array attributes (pytree leaves);
    None, strings and bools are kept as static attributes. jax3d's cameras derive from this
    class too (as dataclasses with their own constructors), so they share its methods:
    ``len()``, ``isempty()``, ``gather_props(batch_idx)``, indexing and the device methods of
    ``jax3d.device.DeviceMethods``. Attributes cannot be assigned: use ``.replace(name=value)``.
    """

    def __init__(self, dtype=jnp.float32, device=None, **kwargs):
        static = {k: v for k, v in kwargs.items() if v is None or isinstance(v, (str, bool))}
        names = [k for k in kwargs if k not in static]
        values = convert_to_tensors_and_broadcast(
            *(kwargs[k] for k in names), dtype=dtype, device=device
        )
        object.__setattr__(self, "_arrays", dict(zip(names, values)))
        object.__setattr__(self, "_static_props", static)

    def __getattr__(self, name):
        props = self.__dict__
        for table in ("_arrays", "_static_props"):
            if name in props.get(table, {}):
                return props[table][name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is immutable: cannot set {name!r}; use "
                             f"`props = props.replace({name}=...)`")  # fmt: skip

    def tree_flatten(self):
        names = tuple(self._arrays)
        return tuple(self._arrays[k] for k in names), (names, tuple(self._static_props.items()))

    @classmethod
    def tree_unflatten(cls, aux, children):
        names, static = aux
        obj = object.__new__(cls)
        object.__setattr__(obj, "_arrays", dict(zip(names, children)))
        object.__setattr__(obj, "_static_props", dict(static))
        return obj

    def to(self, device=None, copy: bool = False) -> TensorProperties:
        """These properties on ``device`` (``jax3d.device`` meaning; None: unchanged)."""
        return super().to(device, copy=copy)

    def replace(self, **updates) -> TensorProperties:
        """A copy with some properties replaced (re-broadcast to a common batch size)."""
        return type(self)(**{**self._arrays, **self._static_props, **updates})

    def __len__(self) -> int:
        leaves = jax.tree_util.tree_leaves(self)
        return int(leaves[0].shape[0]) if leaves else 0

    def isempty(self) -> bool:
        """True when the batch is empty."""
        return len(self) == 0

    def __getitem__(self, index) -> TensorProperties:
        """The properties of some batch elements (int, slice, list or int array); the batch
        axis is kept."""
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        idx = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index)
        return jax.tree_util.tree_map(lambda x: x[idx], self)

    def gather_props(self, batch_idx) -> TensorProperties:
        """Per-element properties: every batched property ``(N, ...)`` with ``N > 1`` becomes
        ``x[batch_idx]`` of shape ``(*batch_idx.shape, ...)`` (PyTorch3D returns ``self``
        modified in place; here a new object is returned). Size-1 properties are kept.

        Args:
          batch_idx: int array of batch indices, e.g. ``meshes.verts_packed_to_mesh_idx()``.
        """
        idx = jnp.asarray(batch_idx)
        if not jnp.issubdtype(idx.dtype, jnp.integer):
            raise TypeError(f"batch_idx must be an integer array, got {idx.dtype}")

        def gather(x):
            if x.ndim == 0 or x.shape[0] <= 1:
                return x
            return x[idx]

        return jax.tree_util.tree_map(gather, self)


def ndc_to_grid_sample_coords(xy_ndc, image_size_hw) -> Array:
    """PyTorch3D NDC points -> ``grid_sample`` coordinates of an ``H x W`` image.

    PyTorch3D's NDC has +X left, +Y up and the shorter image side spanning [-1, 1];
    ``grid_sample``'s has +X right, +Y down and both sides spanning [-1, 1].

    Args:
      xy_ndc: (..., 2) float32 NDC points.
      image_size_hw: ``(H, W)`` positive ints.

    Returns:
      (..., 2) float32: ``-xy_ndc`` with the longer side's coordinate scaled by
      ``min(H, W) / max(H, W)``.
    """
    if len(image_size_hw) != 2 or any(int(s) <= 0 for s in image_size_hw):
        raise ValueError(f"image_size_hw must be two positive ints, got {image_size_hw!r}")
    h, w = (int(s) for s in image_size_hw)
    xy = -jnp.asarray(xy_ndc)
    aspect = min(h, w) / max(h, w)
    axis = 1 if h >= w else 0
    return xy.at[..., axis].multiply(aspect)


@partial(jax.jit, static_argnames=("mode", "padding_mode", "align_corners"))
def _grid_sample(image, grid, *, mode, padding_mode, align_corners):
    from jax3d.ops.vert_align import _grid_sample_batch  # the grid_sample kernel of vert_align

    return _grid_sample_batch(image, grid, mode, padding_mode, align_corners)  # (B, P, C)


def ndc_grid_sample(input, grid_ndc, *, align_corners: bool = False, **grid_sample_kwargs):  # noqa: A002
    """Sample images at PyTorch3D-NDC locations (``torch.nn.functional.grid_sample`` after
    :func:`ndc_to_grid_sample_coords`), with PyTorch3D's channels-first layout.

    Args:
      input: (B, C, H, W) float32 images.
      grid_ndc: (B, ..., 2) float32 NDC locations.
      align_corners: static; ``grid_sample``'s meaning (False: -1 and 1 are the outer edges
        of the border pixels).
      **grid_sample_kwargs: ``mode`` ("bilinear" (default) or "nearest") and
        ``padding_mode`` ("zeros" (default), "border" or "reflection").

    Returns:
      (B, C, ...) float32 samples.
    """
    image = jnp.asarray(input)
    grid = jnp.asarray(grid_ndc)
    if image.ndim != 4:
        raise ValueError(f"input must be (B, C, H, W), got {image.shape}")
    if grid.ndim < 2 or grid.shape[-1] != 2 or grid.shape[0] != image.shape[0]:
        raise ValueError(f"grid_ndc must be (B, ..., 2) with B = {image.shape[0]}, "
                         f"got {grid.shape}")  # fmt: skip
    mode = grid_sample_kwargs.pop("mode", "bilinear")
    padding_mode = grid_sample_kwargs.pop("padding_mode", "zeros")
    if grid_sample_kwargs:
        raise TypeError(f"unsupported grid_sample arguments {sorted(grid_sample_kwargs)}")
    if mode not in ("bilinear", "nearest") or padding_mode not in ("zeros", "border",
                                                                   "reflection"):
        raise ValueError(f"bad mode {mode!r} or padding_mode {padding_mode!r}")
    b, *spatial, _ = grid.shape
    flat = ndc_to_grid_sample_coords(grid.reshape(b, -1, 2), image.shape[2:])
    out = _grid_sample(image, flat, mode=mode, padding_mode=padding_mode,
                       align_corners=bool(align_corners))  # fmt: skip
    return jnp.moveaxis(out, -1, 1).reshape(b, image.shape[1], *spatial)
