"""The protocol of synthetic datasets generated on device from a PRNG key, and their batch
iterator (the same interface as `ImageFolder.iterate`, for the training loop)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from typing import Any, Protocol, runtime_checkable

import jax

__all__ = ["SyntheticDataset", "synthetic_batches"]


@runtime_checkable
class SyntheticDataset(Protocol):
    """A dataset that generates its batches on device.

    `batch(key, batch_size)` returns a pytree of arrays with leading axis `batch_size`
    (e.g. `{"image": (B, H, W, 3) float32, ...}`), a pure function of `key`: it must be
    traceable under `jax.jit(dataset.batch, static_argnums=1)` (no host IO, no Python
    randomness, shapes fixed by `batch_size` and the dataset's static settings). Implement it
    on a frozen dataclass (hashable, so the jitted function can be cached per dataset).
    """

    def batch(self, key: jax.Array, batch_size: int) -> Any: ...


@functools.lru_cache(maxsize=32)
def _compiled_batch(dataset, batch_size: int, sharding):
    """One jitted batch function per (dataset, batch_size, sharding), reused by every
    iterator (a new epoch's iterator does not recompile)."""

    def make(key, step):
        return dataset.batch(jax.random.fold_in(key, step), batch_size)

    return jax.jit(make, out_shardings=sharding)


def synthetic_batches(
    dataset: SyntheticDataset,
    key: jax.Array,
    batch_size: int,
    *,
    num_batches: int | None = None,
    sharding: Any | None = None,
) -> Iterator[Any]:
    """Batches `dataset.batch(fold_in(key, step), batch_size)` for step = 0, 1, ...

    One jitted function generates every batch (compiled once per dataset, batch size and
    sharding, and cached across calls when they are hashable), placed with
    `out_shardings=sharding` when given (e.g. `NamedSharding(mesh, PartitionSpec("data"))`),
    so nothing goes through the host. Step `i`'s batch depends only on `(key, i)`.

    Args:
        dataset: a `SyntheticDataset`.
        key: PRNG key.
        batch_size: leading size of every leaf.
        num_batches: stop after this many; None runs forever.
        sharding: optional output sharding (a `Sharding` or a pytree of them).

    Yields:
        The batch pytrees.
    """
    if not isinstance(dataset, SyntheticDataset):
        raise TypeError(
            f"dataset must have a batch(key, batch_size) method, got {type(dataset).__name__}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    try:
        make = _compiled_batch(dataset, batch_size, sharding)
    except TypeError:  # an unhashable dataset or sharding: compile for this iterator only
        make = _compiled_batch.__wrapped__(dataset, batch_size, sharding)
    steps = itertools.count() if num_batches is None else range(num_batches)
    for step in steps:
        yield make(key, step)
