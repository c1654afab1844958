"""Explicit randomness: jax3d functions that sample take a required keyword-only ``key=``.

PyTorch3D samples from torch's global generator; jax3d keeps PyTorch3D's positional parameters
and adds ``key`` after them, keyword-only, so a ported call only gains ``key=...``::

    points = sample_points_from_meshes(meshes, 5000, key=jax.random.key(0))
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["require_key"]


def require_key(key, owner: str) -> jax.Array:
    """``key`` checked as a ``jax.random`` key (new-style typed or legacy ``(2,) uint32``).

    Args:
      key: the value passed as ``key=``.
      owner: the public function's name, for the message.

    Raises:
      TypeError: ``key`` is None or not a PRNG key; the message shows the call to write.
    """
    if key is None:
        raise TypeError(f"{owner} samples randomly and needs a PRNG key: pass "
                        f"key=jax.random.key(seed) (jax3d has no global random state)")  # fmt: skip
    typed = isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    legacy = (isinstance(key, jax.Array) and key.dtype == jnp.uint32
              and key.shape[-1:] == (2,))  # fmt: skip
    if not (typed or legacy):
        what = type(key).__name__ if not hasattr(key, "shape") else f"{key.dtype}{key.shape}"
        raise TypeError(f"{owner}: key must be a jax.random key (jax.random.key(seed)), "
                        f"got {what}")  # fmt: skip
    return key
