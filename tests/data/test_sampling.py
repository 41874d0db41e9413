"""Negative sampling: never a positive, kernel == twin, popularity frequencies (chi-square)."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nanorec.data.interactions import Interactions
from nanorec.data.sampling import (
    NegativeSampler,
    alias_table,
    item_weights,
    sample_negatives_nb,
    sample_negatives_ref,
)


@st.composite
def implicit_logs(draw):
    n_users, n_items = draw(st.integers(1, 6)), draw(st.integers(2, 10))
    pairs = draw(
        st.lists(
            st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1)),
            min_size=1, max_size=40, unique=True,
        )
    )
    users, items = zip(*pairs)
    return Interactions.from_arrays(users, items, user_ids=np.arange(n_users), item_ids=np.arange(n_items))


def positives_of(train):
    return {(u, i) for u, i in zip(train.user_index.tolist(), train.item_index.tolist())}


@settings(max_examples=50, deadline=None)
@given(
    train=implicit_logs(),
    distribution=st.sampled_from(["uniform", "popularity"]),
    popularity_exponent=st.sampled_from([0.0, 0.5, 1.0, 2.0]),
    n_negatives=st.integers(1, 6),
    seed=st.integers(0, 2**32 - 1),
)
def test_sampler_never_returns_a_positive(train, distribution, popularity_exponent, n_negatives, seed):
    sampler = NegativeSampler(train, n_negatives, distribution, popularity_exponent, seed)
    users = np.flatnonzero(sampler.n_choices > 0)
    assume(len(users) > 0)
    users = np.random.default_rng(seed).choice(users, size=20)
    negatives = sampler.sample(users)
    assert negatives.shape == (20, n_negatives) and negatives.dtype == np.int32
    positives = positives_of(train)
    weights = item_weights(train, distribution, popularity_exponent)
    for user, row in zip(users, negatives):
        for item in row:
            assert (user, item) not in positives
            assert weights[item] > 0  # zero-weight items (unseen, popularity) are never drawn
    again = NegativeSampler(train, n_negatives, distribution, popularity_exponent, seed).sample(users)
    np.testing.assert_array_equal(again, negatives)


@settings(max_examples=50, deadline=None)
@given(
    train=implicit_logs(),
    distribution=st.sampled_from(["uniform", "popularity"]),
    popularity_exponent=st.sampled_from([0.0, 0.5, 1.0, 2.0]),
    n_uniforms=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
)
def test_kernel_equals_twin_even_when_the_stream_runs_out(train, distribution, popularity_exponent, n_uniforms, seed):
    sampler = NegativeSampler(train, 3, distribution, popularity_exponent)
    users = np.flatnonzero(sampler.n_choices > 0)
    assume(len(users) > 0)
    rng = np.random.default_rng(seed)
    users = rng.choice(users, size=15)
    uniforms = rng.random(n_uniforms)
    args = (sampler.indptr, sampler.indices, users, 3, sampler.keep, sampler.alias, uniforms)
    negatives_nb, filled_nb = sample_negatives_nb(*args)
    negatives_ref, filled_ref = sample_negatives_ref(*args)
    assert filled_nb == filled_ref
    np.testing.assert_array_equal(negatives_nb, negatives_ref)


def test_the_stream_is_read_in_order_with_rejections():
    # one user whose positive is item 1 of 4 equal-weight items: r -> item floor(4 r)
    indptr, indices = np.array([0, 1]), np.array([1], dtype=np.int32)
    keep, alias = alias_table(np.ones(4))
    uniforms = np.array([0.3, 0.9, 0.0, 0.6])  # items 1 (rejected), 3, 0, 2
    for kernel in (sample_negatives_nb, sample_negatives_ref):
        negatives, filled = kernel(indptr, indices, np.array([0]), 3, keep, alias, uniforms)
        assert filled == 1 and negatives.tolist() == [[3, 0, 2]]


@settings(max_examples=50, deadline=None)
@given(weights=st.lists(st.sampled_from([0.0, 0.5, 1.0, 3.0, 7.25, 100.0]), min_size=1, max_size=12))
def test_alias_table_gives_every_item_its_share(weights):
    # exact, not sampled: the mass of item i is keep[i] plus the rest of every slot aliased to it
    weights = np.array(weights)
    assume(weights.sum() > 0)
    keep, alias = alias_table(weights)
    assert np.all((keep >= 0) & (keep <= 1))
    mass = keep + np.bincount(alias, weights=1.0 - keep, minlength=len(weights))
    np.testing.assert_allclose(mass / len(weights), weights / weights.sum(), atol=1e-12)
    assert np.all(keep[weights == 0] == 0)  # a zero-weight item never keeps any of its slot


def test_the_ends_of_the_stream_stay_inside_the_table():
    # the smallest and largest uniforms of default_rng (0 and 1 - 2**-53) and 1.0 itself, which
    # default_rng never returns but the clamp of the slot to I - 1 keeps inside the table
    keep, alias = alias_table([1.0, 1.0, 1.0])
    indptr, indices = np.array([0, 0]), np.zeros(0, np.int32)
    uniforms = np.array([0.0, 1 - 2.0**-53, 1.0])
    for kernel in (sample_negatives_nb, sample_negatives_ref):
        negatives, _ = kernel(indptr, indices, np.array([0]), 3, keep, alias, uniforms)
        assert negatives.tolist() == [[0, 2, 2]]


def test_alias_candidates_of_a_two_item_table():
    # weights 1 and 3: slot 0 keeps item 0 for half of it (r < 0.25) and gives item 1 the rest
    keep, alias = alias_table([1.0, 3.0])
    assert keep.tolist() == [0.5, 1.0] and alias.tolist() == [1, 1]
    indptr, indices = np.array([0, 0]), np.zeros(0, np.int32)  # one user, no positives
    uniforms = np.array([0.1, 0.3, 0.6, 0.999])
    for kernel in (sample_negatives_nb, sample_negatives_ref):
        negatives, _ = kernel(indptr, indices, np.array([0]), 4, keep, alias, uniforms)
        assert negatives.tolist() == [[0, 1, 1, 1]]


def chi_square(observed, expected):
    return float(np.sum((observed - expected) ** 2 / expected))


def chi_square_critical(dof, z=3.72):
    """Upper quantile of chi-square(dof) by the Wilson-Hilferty approximation (z = 3.72: p ~ 1e-4)."""
    c = 2.0 / (9.0 * dof)
    return dof * (1.0 - c + z * np.sqrt(c)) ** 3


def popularity_log():
    """Item k (k = 0..7) has 2 + 3k rows; user 0 holds items 2 and 5, the other users one item each."""
    users, items = [0, 0], [2, 5]
    next_user = 1
    for item, count in enumerate(2 + 3 * np.arange(8)):
        for _ in range(count - (item in (2, 5))):
            users.append(next_user)
            items.append(item)
            next_user += 1
    return Interactions.from_arrays(users, items)


@pytest.mark.parametrize("popularity_exponent", [1.0, 0.5])
def test_popularity_frequencies_match_count_to_the_alpha(popularity_exponent):
    train = popularity_log()
    sampler = NegativeSampler(train, n_negatives=8, distribution="popularity", popularity_exponent=popularity_exponent, seed=7)
    draws = sampler.sample(np.zeros(5000, dtype=np.int64)).ravel()
    negatives = np.array([0, 1, 3, 4, 6, 7])  # user 0's negatives
    counts = (2 + 3 * negatives) ** popularity_exponent
    expected = len(draws) * counts / counts.sum()
    observed = np.bincount(draws, minlength=8)
    assert observed[[2, 5]].sum() == 0
    assert chi_square(observed[negatives], expected) < chi_square_critical(len(negatives) - 1)
    # the same test rejects the uniform sampler: it can fail
    uniform = NegativeSampler(train, n_negatives=8, seed=7).sample(np.zeros(5000, dtype=np.int64)).ravel()
    observed_uniform = np.bincount(uniform, minlength=8)[negatives]
    assert chi_square(observed_uniform, expected) > chi_square_critical(len(negatives) - 1)


def test_issue_4_users_are_grouped_and_rows_come_back_in_the_order_asked():
    # sample() sorts the users (the kernel's mask is rebuilt only when the user changes) and
    # scatters the rows back: with distinct users, asking in any order gives the same rows
    train = popularity_log()
    users = np.arange(train.n_users)
    shuffled = np.random.default_rng(0).permutation(users)
    grouped = NegativeSampler(train, 3, "popularity", 0.5, seed=5).sample(users)
    again = NegativeSampler(train, 3, "popularity", 0.5, seed=5).sample(shuffled)
    np.testing.assert_array_equal(again, grouped[shuffled])


def test_user_with_every_item_gets_a_clear_error():
    train = Interactions.from_arrays(["full", "full", "other"], [1, 2, 1])
    sampler = NegativeSampler(train, n_negatives=2)
    assert sampler.sample([1]).tolist() == [[1, 1]]
    with pytest.raises(ValueError, match="user 'full' \\(index 0\\) has interacted with every item"):
        sampler.sample([1, 0])
    # item 3 has no rows: uniform may draw it for "full", popularity (weight 0) may not
    train = Interactions.from_arrays(["full", "full", "other"], [1, 2, 1], item_ids=[1, 2, 3])
    assert NegativeSampler(train, n_negatives=2).sample([0]).tolist() == [[2, 2]]
    with pytest.raises(ValueError, match="every item that can be drawn"):
        NegativeSampler(train, distribution="popularity").sample([0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_negatives=0), "n_negatives"),
        (dict(distribution="zipf"), "distribution must be one of"),
        (dict(distribution="popularity", popularity_exponent=-1.0), "popularity_exponent"),
    ],
)
def test_bad_options_are_refused(kwargs, message):
    train = Interactions.from_arrays([1, 2], [1, 2])
    with pytest.raises(ValueError, match=message):
        NegativeSampler(train, **kwargs)


def test_bad_users_are_refused():
    sampler = NegativeSampler(Interactions.from_arrays([1, 2], [1, 2]))
    with pytest.raises(ValueError, match=r"in \[0, 2\)"):
        sampler.sample([2])
    with pytest.raises(TypeError, match="user indices"):
        sampler.sample(["a"])
