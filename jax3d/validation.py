"""Value checks of arguments: eager errors on concrete values, ``checkify`` under tracing.

The library's policy for bad argument *values* (docs/design.md, "Errors"):

- Shapes, dtypes and static settings are always checked (they are known while tracing).
- Values are checked when they are concrete (eager calls, NumPy inputs, constants closed
  over by a jitted function): a ``ValueError`` naming the argument is raised at once.
- Traced values (inside ``jax.jit``, ``grad``, ``vmap``) cannot raise a Python error. The same
  checks are then recorded as ``jax.experimental.checkify.debug_check``: a no-op (and free) in
  normal use, an error value when the caller wraps the function with ``checkify``::

      from jax.experimental import checkify
      err, out = checkify.checkify(jax.jit(f), errors=checkify.user_checks)(verts)
      err.throw()  # ValueError-like JaxRuntimeError naming the argument, if a check failed

The helpers here implement that policy; every check that uses them says so in its docstring.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import checkify

__all__ = ["check_finite", "check_values", "is_traced"]


def is_traced(x) -> bool:
    """True when ``x`` is a JAX tracer (its values are unknown at trace time)."""
    return isinstance(x, jax.core.Tracer)


@jax.jit
def _all_finite(x: jax.Array) -> jax.Array:
    return jnp.all(jnp.isfinite(x))


def _on_host(x) -> bool:
    """NumPy arrays, and jax arrays living on CPU (``np.asarray`` is then a cheap view)."""
    if isinstance(x, np.ndarray):
        return True
    try:
        return all(d.platform == "cpu" for d in x.devices())
    except AttributeError:
        return True


def check_finite(name: str, x) -> None:
    """Raise ``ValueError`` if concrete ``x`` holds NaN or inf (``debug_check`` if traced).

    Args:
        name: the argument's name, used in the message (e.g. ``"verts[1]"``).
        x: float array of any shape (NumPy or jax); integer arrays always pass.
    """
    if not jnp.issubdtype(jnp.result_type(x), jnp.inexact) or np.size(x) == 0:
        return
    if is_traced(x):
        checkify.debug_check(jnp.all(jnp.isfinite(x)), f"{name} must be finite (no NaN or inf)")
        return
    if _on_host(x):
        arr = np.asarray(x)
        ok = bool(np.all(np.isfinite(arr)))
    else:
        ok = bool(_all_finite(x))
    if not ok:
        arr = np.asarray(x)
        bad = np.argwhere(~np.isfinite(arr))
        raise ValueError(f"{name} must be finite, got {arr[tuple(bad[0])]} at index "
                         f"{tuple(int(i) for i in bad[0])} ({len(bad)} non-finite values)")


def check_values(name: str, x, ok: Callable, what: str) -> None:
    """Raise ``ValueError("{name} must be {what}, got ...")`` unless ``ok(x)`` holds everywhere.

    Concrete ``x`` is checked with NumPy; traced ``x`` records a ``checkify.debug_check``.

    Args:
        name: the argument's name.
        x: array (NumPy or jax) or scalar.
        ok: elementwise predicate written with operators, valid for NumPy and jax arrays
            (e.g. ``lambda f: (f > 0) & (f < 180)``).
        what: the requirement in words (e.g. ``"in (0, 180) degrees"``).
    """
    if is_traced(x):
        checkify.debug_check(jnp.all(ok(x)), f"{name} must be {what}")
        return
    arr = np.asarray(x)
    if not np.all(ok(arr)):
        raise ValueError(f"{name} must be {what}, got {arr.tolist()}")
