"""The prefetch thread: order, bounded queue, exceptions handed to the consumer, shutdown."""

import threading
import time

import pytest

from jax3d.datasets import prefetch


def test_items_in_order_and_queue_is_bounded():
    produced = []

    def source():
        for i in range(10):
            produced.append(i)
            yield i

    with prefetch(source(), buffer_size=2) as it:
        time.sleep(0.3)
        # 2 queued + at most 1 waiting to be put.
        assert len(produced) <= 3
        assert list(it) == list(range(10))


def test_exception_reaches_the_consumer_after_earlier_items():
    def source():
        yield 1
        yield 2
        raise RuntimeError("decoder exploded")

    it = prefetch(source(), buffer_size=4)
    assert next(it) == 1 and next(it) == 2
    with pytest.raises(RuntimeError, match="decoder exploded"):
        next(it)
    with pytest.raises(StopIteration):
        next(it)


def test_close_stops_the_thread_and_closes_the_source():
    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    it = prefetch(endless(), buffer_size=1)
    assert next(it) == 0
    it.close()
    assert closed.wait(2.0)
    assert not it._thread.is_alive()
    with pytest.raises(StopIteration):
        next(it)
    with pytest.raises(ValueError, match="buffer_size"):
        prefetch([], buffer_size=0)
