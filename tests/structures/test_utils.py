"""Tests for the list / padded / packed conversions of jax3d.structures.utils."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jax.test_util import check_grads

from jax3d.structures import (
    list_to_packed,
    list_to_padded,
    packed_to_list,
    packed_to_padded,
    padded_to_list,
    padded_to_packed,
)


def list_to_padded_naive(x, pad_size, pad_value):
    out = np.full((len(x), *pad_size), pad_value, np.float64)
    for i, xi in enumerate(x):
        for idx in np.ndindex(*xi.shape):
            out[(i, *idx)] = xi[idx]
    return out


def packed_to_padded_naive(inputs, first_idxs, max_size):
    inputs = np.asarray(inputs, np.float64)
    n = len(first_idxs)
    out = np.zeros((n, max_size, *inputs.shape[1:]))
    ends = list(first_idxs[1:]) + [inputs.shape[0]]
    for b in range(n):
        for i in range(max_size):
            if first_idxs[b] + i < ends[b]:
                out[b, i] = inputs[first_idxs[b] + i]
    return out


def random_list(seed, lengths, trailing=(3,)):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, *trailing)).astype(np.float32) for n in lengths]


@settings(max_examples=10)
@given(lengths=st.lists(st.integers(0, 6), min_size=1, max_size=4), seed=st.integers(0, 999),
       pad_value=st.sampled_from([0.0, -1.0]))
def test_list_padded_round_trip(lengths, seed, pad_value):
    x = random_list(seed, lengths)
    padded = list_to_padded(x, pad_value=pad_value)
    expected = list_to_padded_naive(x, (max(lengths), 3), pad_value)
    np.testing.assert_array_equal(padded, expected)
    back = padded_to_list(padded, lengths)
    for a, b in zip(back, x):
        np.testing.assert_array_equal(a, b)


def test_list_to_padded_options_and_jit():
    x = [np.arange(6.0).reshape(2, 3), np.arange(4.0).reshape(1, 4)]
    padded = list_to_padded(x, pad_size=(3, 5), pad_value=7.0)
    np.testing.assert_array_equal(padded, list_to_padded_naive(x, (3, 5), 7.0))
    jx = [jnp.asarray(xi) for xi in x]
    jitted = jax.jit(lambda a, b: list_to_padded([a, b], pad_size=(3, 5), pad_value=7.0))(*jx)
    np.testing.assert_array_equal(jitted, padded)
    same = [np.ones((2, 2)), np.zeros((2, 2))]
    np.testing.assert_array_equal(list_to_padded(same, equisized=True), np.stack(same))
    assert list_to_padded([], pad_size=(4, 3)).shape == (0, 4, 3)
    with pytest.raises(ValueError, match="pad_size"):
        list_to_padded(x, pad_size=(1, 5))
    with pytest.raises(ValueError, match="dims"):
        list_to_padded([np.ones(3), np.ones((2, 2))])
    with pytest.raises(ValueError, match="empty"):
        list_to_padded([])
    with pytest.raises(TypeError):
        list_to_padded(np.ones((2, 3)))


def test_padded_to_list_nested_split_sizes():
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    out = padded_to_list(x, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(out[0], x[0, :1, :2])
    np.testing.assert_array_equal(out[1], x[1])
    whole = padded_to_list(x)
    assert len(whole) == 2 and whole[1].shape == (3, 4)
    with pytest.raises(ValueError, match="split_size"):
        padded_to_list(x, [1, 2, 3])


def test_list_to_packed_and_back():
    x = random_list(0, [2, 0, 3])
    packed, num, first, to_list = list_to_packed(x)
    np.testing.assert_array_equal(packed, np.concatenate(x))
    np.testing.assert_array_equal(num, [2, 0, 3])
    np.testing.assert_array_equal(first, [0, 2, 2])
    np.testing.assert_array_equal(to_list, [0, 0, 2, 2, 2])
    for a, b in zip(packed_to_list(packed, [2, 0, 3]), x):
        np.testing.assert_array_equal(a, b)
    assert len(packed_to_list(packed[:4], 2)) == 2
    with pytest.raises(ValueError, match="sum"):
        packed_to_list(packed, [1, 1])
    with pytest.raises(ValueError, match="trailing"):
        list_to_packed([np.ones((2, 3)), np.ones((2, 2))])


def test_padded_to_packed_modes():
    x = random_list(1, [3, 1, 2])
    padded = list_to_padded(x, pad_value=-1.0)
    np.testing.assert_array_equal(padded_to_packed(padded, split_size=[3, 1, 2]),
                                  np.concatenate(x))
    np.testing.assert_array_equal(padded_to_packed(padded, pad_value=-1.0), np.concatenate(x))
    assert padded_to_packed(padded).shape == (9, 3)
    one_d = jnp.array([[1.0, 2.0, 0.0], [3.0, 0.0, 0.0]])
    np.testing.assert_array_equal(padded_to_packed(one_d, pad_value=0.0), [1, 2, 3])
    with pytest.raises(ValueError, match="only one"):
        padded_to_packed(padded, split_size=[3, 1, 2], pad_value=0.0)
    with pytest.raises(ValueError, match="split_size"):
        padded_to_packed(padded, split_size=[4, 1, 2])
    with pytest.raises(ValueError, match="traced"):
        jax.jit(lambda p, s: padded_to_packed(p, split_size=s))(padded, jnp.array([3, 1, 2]))


@settings(max_examples=10)
@given(lengths=st.lists(st.integers(0, 5), min_size=1, max_size=4), seed=st.integers(0, 999))
def test_packed_to_padded_matches_naive_and_round_trips(lengths, seed):
    x = random_list(seed, lengths)
    packed = np.concatenate(x)
    first = np.cumsum(lengths) - np.array(lengths)
    out = _packed_to_padded_jit(jnp.asarray(packed), jnp.asarray(first, jnp.int32), 6)
    np.testing.assert_array_equal(out, packed_to_padded_naive(packed, first, 6))
    np.testing.assert_array_equal(padded_to_packed(out, split_size=lengths), packed)


_packed_to_padded_jit = jax.jit(packed_to_padded, static_argnums=2)


def test_packed_to_padded_1d_grad_and_errors():
    inputs = jnp.arange(1.0, 6.0)
    first = jnp.array([0, 2], jnp.int32)
    np.testing.assert_array_equal(packed_to_padded(inputs, first, 4),
                                  [[1, 2, 0, 0], [3, 4, 5, 0]])
    check_grads(lambda v: packed_to_padded(v, first, 4), (inputs,), order=1, modes=["rev"])
    assert packed_to_padded(jnp.zeros((0, 2)), jnp.array([0, 0]), 3).shape == (2, 3, 2)
    with pytest.raises(ValueError, match="inputs"):
        packed_to_padded(jnp.zeros((2, 2, 2)), first, 4)
    with pytest.raises(ValueError, match="first_idxs"):
        packed_to_padded(inputs, jnp.array([0.0, 2.0]), 4)
    with pytest.raises(TypeError, match="max_size"):
        packed_to_padded(inputs, first, 2.5)
