"""Degenerate-geometry sweep (issue #21): finite values and gradients, and clear errors for
bad arguments, over the tables of ``tests/degenerate_cases.py``.

The default suite runs the ``BATCHED`` cases (every kind of input at once, one compiled
function per batch: zero-area faces, collinear and coincident vertices, points at view depth
0, znear = 0, the zero quaternion, zero and tiny axis-angles, rotations by pi, empty meshes and
clouds in a batch, single-point clouds, coincident points in chamfer / knn) and the bad
arguments; ``-m slow`` runs every individual case, which names the input that fails, and the
renderer scenes (a camera at a vertex or inside the mesh, znear = 0, zero-area faces), which
compile a rasterizer gradient each.
``benchmarks/degenerate_sweep.py`` prints the same tables as counts.
"""

from __future__ import annotations

import pytest

from tests.degenerate_cases import (
    BAD_ARGUMENTS,
    BATCHED,
    DEGENERATE,
    check_bad_argument,
    check_case,
)


def _params(entries):
    return [pytest.param(e, id=e.name, marks=[] if e.fast else [pytest.mark.slow])
            for e in entries]  # fmt: skip


def test_tables_are_consistent():
    names = [c.name for c in BATCHED + DEGENERATE] + [b.name for b in BAD_ARGUMENTS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("case", _params(BATCHED + DEGENERATE))
def test_degenerate_input_is_finite(case):
    assert check_case(case) == "ok"


@pytest.mark.parametrize("entry", _params(BAD_ARGUMENTS))
def test_bad_argument_raises_clear_error(entry):
    assert check_bad_argument(entry) == "clear"
