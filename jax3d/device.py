"""PyTorch3D's ``device=`` arguments and ``.to()`` / ``.cpu()`` / ``.cuda()`` methods, in JAX.

One meaning everywhere in jax3d: a ``device`` argument is

- ``None``: JAX's default placement (arrays are created on ``jax.devices()[0]``); this is the
  default of every jax3d ``device=`` parameter, including those that PyTorch3D defaults to
  ``"cpu"`` (JAX has no per-tensor default device, so ``"cpu"`` would pin data to the host);
- a ``jax.Device`` (e.g. ``jax.devices("gpu")[1]``);
- a string ``"<platform>"`` or ``"<platform>:<index>"`` with platform ``cpu``, ``cuda``/``gpu``,
  ``rocm`` or ``tpu`` (``"cuda:0"`` is ``jax.devices("gpu")[0]``), or any object whose
  ``str()`` is such a string (a ``torch.device`` prints as one).

An unknown string, a platform with no devices on this machine, or an index past the last device
raises ``ValueError``. A resolved device is used with ``jax.device_put``; values that are being
traced (inside ``jit``/``grad``/``vmap``) are left alone, since placement is the caller's there.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

__all__ = [
    "DeviceMethods",
    "as_device",
    "device_of",
    "device_put",
    "place_fields",
    "with_device_property",
]

# PyTorch / JAX platform names -> the name jax.devices() takes.
_PLATFORMS = {"cpu": "cpu", "cuda": "gpu", "gpu": "gpu", "rocm": "gpu", "tpu": "tpu"}


def as_device(device) -> jax.Device | None:
    """The ``jax.Device`` that a PyTorch3D-style ``device`` argument names (see module doc).

    Args:
      device: None, a ``jax.Device``, or a string like ``"cpu"``, ``"cuda"``, ``"cuda:1"``.

    Returns:
      None for None (JAX's default placement), else the device.

    Raises:
      ValueError: unknown platform, no such device on this machine, or a bad index.
      TypeError: ``device`` is not one of the accepted types.
    """
    if device is None or isinstance(device, jax.Device):
        return device
    if not isinstance(device, str):
        if not hasattr(device, "type"):  # torch.device-like objects print as "cuda:0"
            raise TypeError(f"device must be None, a jax.Device or a string like 'cuda:0', "
                            f"got {type(device).__name__}")  # fmt: skip
        device = str(device)
    name, _, index = device.strip().lower().partition(":")
    if name not in _PLATFORMS or (index and not index.isdigit()):
        raise ValueError(f"unknown device {device!r}: use 'cpu', 'cuda', 'cuda:<index>', 'gpu', "
                         f"'tpu' or a jax.Device")  # fmt: skip
    try:
        devices = jax.devices(_PLATFORMS[name])
    except RuntimeError:
        devices = []
    if not devices:
        have = sorted({d.platform for d in jax.devices()})
        raise ValueError(f"device {device!r}: this machine has no {name} devices "
                         f"(available platforms: {have})")  # fmt: skip
    i = int(index or 0)
    if i >= len(devices):
        raise ValueError(f"device {device!r}: there are only {len(devices)} {name} devices")
    return devices[i]


def _traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def device_put(tree, device):
    """``tree`` with its arrays on ``device`` (``as_device`` meaning); None leaves it as is.

    NumPy leaves become jax arrays on the device; traced leaves are returned unchanged.
    """
    dev = as_device(device)
    if dev is None:
        return tree
    leaves = jax.tree_util.tree_leaves(tree)
    if any(_traced(x) for x in leaves):
        return tree
    return jax.device_put(tree, dev)


def device_of(tree) -> jax.Device:
    """The device holding the first array of ``tree`` (JAX's default device when there is
    none, or when the first array is traced)."""
    for leaf in jax.tree_util.tree_leaves(tree):
        if isinstance(leaf, jax.Array) and not _traced(leaf):
            return next(iter(leaf.devices()))
    return jax.devices()[0]


class DeviceMethods:
    """PyTorch3D's device methods for immutable pytrees, with their JAX meanings.

    - ``.device``: the ``jax.Device`` holding the arrays (see :func:`device_of`);
    - ``.to(device, copy=False)``, ``.cpu()``, ``.cuda(device=None)``: a copy placed on a
      device with ``jax.device_put`` (``.cuda()`` is the first GPU; it raises ``ValueError``
      on a machine without one, as PyTorch does);
    - ``.clone()``: a copy with fresh buffers (values are immutable, so this only matters for
      buffer donation);
    - ``.detach()``: the same structure with ``jax.lax.stop_gradient`` on its float arrays.
    """

    __slots__ = ()

    @property
    def device(self) -> jax.Device:
        """The ``jax.Device`` holding this structure's arrays."""
        return device_of(self)

    def to(self, device, copy: bool = False):
        """This structure on ``device`` (None: unchanged); ``copy=True`` always copies."""
        out = device_put(self, device)
        return out.clone() if copy and out is self else out

    def cpu(self):
        """This structure on the first CPU device."""
        return self.to("cpu")

    def cuda(self, device=None):
        """This structure on a GPU: ``device`` (an index, string or ``jax.Device``), default
        the first GPU."""
        if device is None or isinstance(device, int):
            device = f"cuda:{device or 0}"
        return self.to(device)

    def clone(self):
        """A copy with fresh array buffers (same values, same device)."""

        def copy(x):
            return jnp.array(x, copy=True) if isinstance(x, jax.Array) and not _traced(x) else x

        return jax.tree_util.tree_map(copy, self)

    def detach(self):
        """The same structure with ``jax.lax.stop_gradient`` on every float array."""

        def stop(x):
            inexact = hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)
            return jax.lax.stop_gradient(x) if inexact else x

        return jax.tree_util.tree_map(stop, self)


def place_fields(obj, device) -> None:
    """Put the pytree fields of the frozen (flax struct) dataclass ``obj`` on ``device``
    (``jax3d.device`` meaning; None and traced fields: left as they are; static fields are
    never touched). For ``__post_init__``."""
    if device is None:
        return
    fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)
              if f.metadata.get("pytree_node", True)}  # fmt: skip
    for name, value in device_put(fields, device).items():
        object.__setattr__(obj, name, value)


def with_device_property(cls):
    """Restore ``DeviceMethods.device`` on a dataclass whose ``device`` InitVar default
    (PyTorch3D's constructor parameter) shadowed it as a class attribute."""
    cls.device = DeviceMethods.device
    return cls
