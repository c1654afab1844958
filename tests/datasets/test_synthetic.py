"""The SyntheticDataset protocol and synthetic_batches."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax3d.datasets import SyntheticDataset, synthetic_batches


@dataclasses.dataclass(frozen=True)
class KeyImages:
    """Images filled with a number derived from the key's bits (cheap to compile on CPU,
    unlike PRNG sampling; a real dataset would sample with `jax.random`)."""

    size: int = 4

    def batch(self, key, batch_size):
        bits = jax.random.key_data(key).astype(jnp.float32)
        value = jnp.sum(bits * jnp.arange(1, bits.size + 1).reshape(bits.shape)) % 251 / 251
        rows = value + jnp.arange(batch_size, dtype=jnp.float32)[:, None, None, None]
        return {"image": jnp.broadcast_to(rows, (batch_size, self.size, self.size, 3))}


def test_synthetic_batches_are_keyed_by_step():
    ds = KeyImages()
    assert isinstance(ds, SyntheticDataset)
    key = jax.random.key(0)
    batches = list(synthetic_batches(ds, key, 2, num_batches=3))
    assert len(batches) == 3 and batches[0]["image"].shape == (2, 4, 4, 3)
    again = next(synthetic_batches(ds, key, 2))  # a new iterator reuses the compiled function
    assert synthetic_batches.__globals__["_compiled_batch"].cache_info().hits >= 1
    np.testing.assert_array_equal(again["image"], batches[0]["image"])
    assert not np.array_equal(batches[0]["image"], batches[1]["image"])
    expected = ds.batch(jax.random.fold_in(key, 2), 2)["image"]
    np.testing.assert_allclose(batches[2]["image"], expected)
    with pytest.raises(TypeError, match="batch"):
        next(synthetic_batches(object(), key, 2))
