"""Levenberg-Marquardt (damped Gauss-Newton) for small nonlinear least-squares problems.

Minimises ``loss(params) = sum(residual_fn(params) ** 2)`` over a pytree ``params`` of ``N``
scalars in all (a camera pose, a curve's coefficients) whose residuals are many (``M`` pixels of
a rendered image). The Jacobian ``J (M, N)`` of the flattened residuals comes from
``jax.jacfwd``: forward mode pushes ``N`` tangents through ``residual_fn``, the cheap direction
when the inputs are few and the outputs many. Each step solves the damped normal equations
(Marquardt's scaling)::

    (J^T J + damping * diag(J^T J)) delta = -J^T r

in closed form, accepts ``params + delta`` when it lowers the loss (then ``damping /= factor``)
and otherwise keeps ``params`` (``damping *= factor``). Only ``J^T J (N, N)`` and ``J^T r (N,)``
are kept between steps, never ``J``.

Everything is jittable: :func:`levenberg_marquardt_step` is one pure step for a loop of one's
own (stopping rules, logging, frames); :func:`levenberg_marquardt` runs the whole solve in a
``lax.while_loop``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree

__all__ = [
    "LevenbergMarquardtState",
    "levenberg_marquardt",
    "levenberg_marquardt_init",
    "levenberg_marquardt_step",
]


class LevenbergMarquardtState(NamedTuple):
    """State of a Levenberg-Marquardt solve (a pytree).

    Attributes:
        params: the current parameters (same pytree structure as given, ``N`` scalars).
        loss: () sum of squared residuals at ``params``.
        jtj: (N, N) ``J^T J`` at ``params`` (``J`` the Jacobian of the flattened residuals).
        jtr: (N,) ``J^T r`` at ``params``, half the gradient of ``loss``.
        damping: () the current ``lambda``.
        accepted: () bool, whether the last step was accepted (True after init).
        iteration: () int32, steps taken (accepted or not).
    """

    params: Any
    loss: jax.Array
    jtj: jax.Array
    jtr: jax.Array
    damping: jax.Array
    accepted: jax.Array
    iteration: jax.Array


def _normal_equations(residual_fn: Callable, unravel: Callable, flat: jax.Array):
    """``(loss (), J^T J (N, N), J^T r (N,))`` at the flat parameters ``flat (N,)``, the
    residuals evaluated once (the primal of the forward-mode Jacobian)."""

    def residuals(x):
        r = jnp.ravel(residual_fn(unravel(x))).astype(x.dtype)
        return r, r

    jac, r = jax.jacfwd(residuals, has_aux=True)(flat)  # (M, N), (M,)
    return jnp.sum(r * r), jac.T @ jac, jac.T @ r


def _check_residual_fn(residual_fn) -> None:
    if not callable(residual_fn):
        raise TypeError(f"residual_fn must be callable, got {type(residual_fn)}")


def levenberg_marquardt_init(residual_fn: Callable, params, damping: float = 1e-3, *,
                             lazy: bool = False, factor: float = 10.0
                             ) -> LevenbergMarquardtState:  # fmt: skip
    """The state at ``params``: loss, ``J^T J`` and ``J^T r`` (one ``jax.jacfwd`` of
    ``residual_fn``).

    Args:
        residual_fn: ``params -> residuals`` (any shape, flattened to ``(M,)``), differentiable
            in forward mode.
        params: pytree of floating arrays, ``N`` scalars in all.
        damping: the initial ``lambda`` (>= 0).
        lazy: evaluate nothing: ``loss = inf``, zero normal equations, ``iteration = -1`` and
            ``damping * factor``, a state whose first :func:`levenberg_marquardt_step` only
            evaluates ``params`` (no move) and leaves ``damping`` and ``iteration = 0``. A
            host loop of jitted steps then compiles one program, not two (the Jacobian of a
            renderer takes a while to compile).
        factor: the step's ``factor`` (used only by ``lazy``).

    Returns:
        :class:`LevenbergMarquardtState` with ``iteration = 0`` (``-1`` when ``lazy``).
    """
    _check_residual_fn(residual_fn)
    flat, unravel = ravel_pytree(params)
    if flat.size == 0:
        raise ValueError("params must hold at least one scalar, got an empty pytree")
    if not jnp.issubdtype(flat.dtype, jnp.floating):
        raise TypeError(f"params must be floating point, got dtype {flat.dtype}")
    if isinstance(damping, (int, float)) and damping < 0:
        raise ValueError(f"damping must be >= 0, got {damping}")
    if lazy:
        n = flat.size
        return LevenbergMarquardtState(params=params, loss=jnp.asarray(jnp.inf, flat.dtype),
                                       jtj=jnp.zeros((n, n), flat.dtype),
                                       jtr=jnp.zeros(n, flat.dtype),
                                       damping=jnp.asarray(damping * factor, flat.dtype),
                                       accepted=jnp.asarray(True),
                                       iteration=jnp.asarray(-1, jnp.int32))  # fmt: skip
    loss, jtj, jtr = _normal_equations(residual_fn, unravel, flat)
    return LevenbergMarquardtState(params=params, loss=loss, jtj=jtj, jtr=jtr,
                                   damping=jnp.asarray(damping, flat.dtype),
                                   accepted=jnp.asarray(True),
                                   iteration=jnp.asarray(0, jnp.int32))  # fmt: skip


def levenberg_marquardt_step(residual_fn: Callable, state: LevenbergMarquardtState, *,
                             factor: float = 10.0, min_diagonal: float = 1e-12
                             ) -> LevenbergMarquardtState:  # fmt: skip
    """One Levenberg-Marquardt step (pure, jittable with ``residual_fn`` closed over).

    Solves ``(J^T J + damping * diag(J^T J)) delta = -J^T r`` (the diagonal floored at
    ``min_diagonal`` so that a parameter the residuals do not see keeps the system regular
    when ``damping > 0``), evaluates the residuals and their Jacobian at ``params + delta``
    (one ``jax.jacfwd``) and accepts the trial when its loss is finite and lower: then
    ``damping / factor``, else the state is kept with ``damping * factor``. With
    ``damping = 0`` the step is Gauss-Newton's (exact for residuals linear in ``params``, when
    ``J`` has full column rank). A state whose loss is infinite (a ``lazy`` init) is only
    evaluated: ``delta = 0``.

    Args:
        residual_fn: ``params -> residuals`` as for :func:`levenberg_marquardt_init`.
        state: the current :class:`LevenbergMarquardtState`.
        factor: the damping's multiplier (> 1).
        min_diagonal: floor of ``diag(J^T J)`` in the damping term.

    Returns:
        The next state (``iteration + 1``).
    """
    _check_residual_fn(residual_fn)
    if isinstance(factor, (int, float)) and factor <= 1.0:
        raise ValueError(f"factor must be > 1, got {factor}")
    flat, unravel = ravel_pytree(state.params)
    diag = jnp.maximum(jnp.diagonal(state.jtj), min_diagonal)
    delta = jnp.linalg.solve(state.jtj + state.damping * jnp.diag(diag), -state.jtr)
    delta = jnp.where(jnp.isinf(state.loss), 0.0, delta)  # not yet evaluated: evaluate only
    trial = flat + delta.astype(flat.dtype)
    loss, jtj, jtr = _normal_equations(residual_fn, unravel, trial)
    accept = jnp.isfinite(loss) & (loss < state.loss) & jnp.all(jnp.isfinite(delta))

    def pick(new, old):
        return jnp.where(accept, new, old)

    return LevenbergMarquardtState(
        params=unravel(pick(trial, flat)),
        loss=pick(loss, state.loss),
        jtj=pick(jtj, state.jtj),
        jtr=pick(jtr, state.jtr),
        damping=jnp.where(accept, state.damping / factor, state.damping * factor),
        accepted=accept,
        iteration=state.iteration + 1,
    )


def levenberg_marquardt(residual_fn: Callable, params, *, max_iters: int = 100,
                        damping: float = 1e-3, factor: float = 10.0, gtol: float = 1e-6,
                        max_damping: float = 1e10) -> LevenbergMarquardtState:  # fmt: skip
    """Minimise ``sum(residual_fn(params) ** 2)`` by Levenberg-Marquardt (a ``lax.while_loop``
    of :func:`levenberg_marquardt_step`; jittable).

    Stops after ``max_iters`` steps, when the gradient is small (``max |J^T r| <= gtol``) or
    when the damping exceeds ``max_damping`` (no step lowers the loss any more).

    Args:
        residual_fn: ``params -> residuals`` (any shape, ``M`` values), forward-differentiable.
        params: pytree of floating arrays, the start (``N`` scalars in all).
        max_iters: most steps (accepted or rejected).
        damping: initial ``lambda``; ``factor``: its multiplier (> 1).
        gtol: stop when the largest ``|J^T r|`` entry is at most this.
        max_damping: stop when ``damping`` exceeds this.

    Returns:
        The final :class:`LevenbergMarquardtState` (``params``, ``loss``, ``iteration``, ...).

    Example (a curve fit; ``t, y`` of shape (M,))::

        state = levenberg_marquardt(lambda p: p["a"] * jnp.exp(p["b"] * t) - y,
                                    {"a": 1.0, "b": 0.0})
    """
    if int(max_iters) < 0:
        raise ValueError(f"max_iters must be >= 0, got {max_iters}")
    params = jax.tree_util.tree_map(jnp.asarray, params)
    state = levenberg_marquardt_init(residual_fn, params, damping)

    def running(s):
        return ((s.iteration < max_iters) & (jnp.max(jnp.abs(s.jtr)) > gtol)
                & (s.damping <= max_damping))  # fmt: skip

    def body(s):
        return levenberg_marquardt_step(residual_fn, s, factor=factor)

    return jax.lax.while_loop(running, body, state)
