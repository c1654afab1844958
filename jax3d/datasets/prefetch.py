"""A host-side prefetch thread: runs any batch iterator ahead of the training step and,
optionally, places each batch on devices with a `jax.sharding.Sharding`."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import jax

__all__ = ["Prefetcher", "prefetch"]

_POLL_S = 0.05


class Prefetcher(Iterator):
    """Iterator over `iterable`'s items, produced by a background thread.

    The thread pulls items into a bounded queue of `buffer_size` items (so at most that many
    batches wait in memory), after `jax.device_put(item, sharding)` when a sharding is given
    (e.g. `NamedSharding(mesh, PartitionSpec("data"))` splits the leading batch axis over the
    mesh's "data" axis; the host-to-device copy then overlaps the step). Items come out in
    the source's order. An exception raised by the source (or by `device_put`) is re-raised
    by `next()` in the consumer, after the items produced before it. `close()` (also called
    by `with`, and on garbage collection) stops the thread, which closes the source
    generator; an exhausted or failed prefetcher has already stopped.

    Use `prefetch(...)` to make one.
    """

    def __init__(
        self, iterable: Iterable, *, buffer_size: int = 2, sharding: Any | None = None
    ):
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be >= 1, got {buffer_size}")
        self._queue: queue.Queue = queue.Queue(maxsize=buffer_size)
        self._stop = threading.Event()
        self._done = False
        # The thread gets the queue and the event, not `self`, so that a prefetcher dropped
        # without `close()` is collected and its `__del__` stops the thread.
        self._thread = threading.Thread(
            target=_produce,
            args=(iter(iterable), self._queue, self._stop, sharding),
            name="jax3d-prefetch",
            daemon=True,
        )
        self._thread.start()

    def __iter__(self) -> Prefetcher:
        return self

    def __next__(self) -> Any:
        if self._done:
            raise StopIteration
        kind, value = self._queue.get()
        if kind == "item":
            return value
        self._done = True
        self._thread.join()
        if kind == "error":
            raise value
        raise StopIteration

    def close(self) -> None:
        """Stop the background thread and drop the queued items (idempotent)."""
        self._done = True
        self._stop.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread is not threading.current_thread():
            self._thread.join()

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        stop = getattr(self, "_stop", None)
        if stop is not None:
            stop.set()


def _put(q: queue.Queue, stop: threading.Event, message: tuple[str, Any]) -> bool:
    """Put `message` unless `stop` is set first; False when stopped."""
    while not stop.is_set():
        try:
            q.put(message, timeout=_POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _produce(source: Iterator, q: queue.Queue, stop: threading.Event, sharding: Any) -> None:
    try:
        for item in source:
            if sharding is not None:
                item = jax.device_put(item, sharding)
            if not _put(q, stop, ("item", item)):
                return
        _put(q, stop, ("end", None))
    except BaseException as err:  # noqa: BLE001 - handed to the consumer
        _put(q, stop, ("error", err))
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def prefetch(
    iterable: Iterable, *, buffer_size: int = 2, sharding: Any | None = None
) -> Prefetcher:
    """Run `iterable` in a background thread, `buffer_size` items ahead.

    Args:
        iterable: any iterable of batches (pytrees of NumPy arrays), e.g.
            `ImageFolder.batches(...)`.
        buffer_size: the bound of the queue (items produced but not yet consumed).
        sharding: optional `jax.sharding.Sharding` (or a pytree of them matching the batch)
            for `jax.device_put` of every batch in the background thread; None leaves the
            batches on the host.

    Returns:
        A `Prefetcher` (an iterator; close it, or use it in a `with` block, to stop early).
    """
    return Prefetcher(iterable, buffer_size=buffer_size, sharding=sharding)
