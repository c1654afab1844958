"""Training curves to a PNG."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plot_losses(
    path: str | os.PathLike,
    curves: Mapping[str, object],
    *,
    title: str | None = None,
    log_scale: bool | None = None,
    xlabel: str = "iteration",
) -> Path:
    """Plot named 1D curves (e.g. loss per iteration) on one axes and save the PNG.

    Args:
        path: destination file (parent folders are created).
        curves: name -> (T,) values (NumPy/JAX array or list), T >= 1; curves may differ in
            length. Non-finite values are left out of the plot (gaps).
        title: axes title.
        log_scale: log y axis; default (None) when every finite value is > 0 and they span
            more than two decades.
        xlabel: x axis label.

    Returns:
        The path written.
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty mapping name -> 1D values")
    arrays = {}
    for name, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"curves[{name!r}] must be 1D and non-empty, got {values.shape}")
        arrays[str(name)] = values
    finite = np.concatenate([v[np.isfinite(v)] for v in arrays.values()])
    if log_scale is None:
        log_scale = bool(finite.size and finite.min() > 0 and finite.max() > 100 * finite.min())
    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for name, values in arrays.items():
        ax.plot(np.arange(len(values)), np.where(np.isfinite(values), values, np.nan), label=name)
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.grid(True, alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
