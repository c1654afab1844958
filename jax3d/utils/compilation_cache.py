"""JAX's persistent compilation cache for scripts: compiled XLA programs are written to disk, so
a second run of an experiment or benchmark loads them instead of compiling again.

The library never turns it on by itself (importing jax3d has no side effects, and tests stay
independent of earlier runs); scripts call :func:`enable_compilation_cache` first thing.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

__all__ = ["default_compilation_cache_dir", "enable_compilation_cache"]

ENV_VAR = "JAX3D_COMPILATION_CACHE"
_OFF = ("", "0", "off", "none", "false")


def default_compilation_cache_dir() -> Path | None:
    """Where the cache lives: ``$JAX3D_COMPILATION_CACHE`` when set (None when it is ``0``,
    ``off``, ``none`` or ``false``), else ``$XDG_CACHE_HOME/jax3d/xla``, else
    ``~/.cache/jax3d/xla``."""
    env = os.environ.get(ENV_VAR)
    if env is not None:
        return None if env.strip().lower() in _OFF else Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "jax3d" / "xla"


def enable_compilation_cache(path=None, *, min_compile_time_secs: float = 0.2) -> Path | None:
    """Turn on JAX's persistent compilation cache (``jax_compilation_cache_dir``).

    Args:
        path: cache folder; None uses :func:`default_compilation_cache_dir` (so the
            ``JAX3D_COMPILATION_CACHE`` environment variable overrides the default, and
            ``JAX3D_COMPILATION_CACHE=off`` disables the cache).
        min_compile_time_secs: programs that compile faster than this are not written
            (JAX's own default is 1 s; the many small eager kernels of a first run take
            0.2-1 s each on a CPU, which is what makes first runs slow).

    Returns:
        The cache folder (created if needed), or None when disabled.

    Call it before the first compilation of the process (before any ``jax.jit`` call runs).
    """
    folder = default_compilation_cache_dir() if path is None else Path(path).expanduser()
    if folder is None:
        return None
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_secs))
    return folder
