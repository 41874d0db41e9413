import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.optim import kernels

SETTINGS = settings(max_examples=40, deadline=None)

rates = st.floats(1e-3, 1.0)
decays = st.sampled_from([0.0]) | st.floats(1e-3, 0.1)
betas = st.floats(0.0, 0.999)

# rule -> strategy of its scalar kernel arguments, in kernel order
SCALARS = {
    "sgd": st.tuples(rates, st.sampled_from([0.0]) | st.floats(0.01, 0.99), decays),
    "adam": st.tuples(rates, betas, betas, st.floats(1e-8, 1e-3), decays, st.integers(1, 50)),
    "adagrad": st.tuples(rates, st.floats(1e-10, 1e-3), decays),
}


def twin_pair(rule, form):
    return getattr(kernels, f"{rule}_{form}_ref"), getattr(kernels, f"{rule}_{form}_nb")


def random_state(rule, rng, shape):
    """State arrays as earlier steps could leave them (second moments are >= 0)."""
    if rule == "sgd":
        return [rng.standard_normal(shape)]
    if rule == "adam":
        return [rng.standard_normal(shape), rng.uniform(0, 2, shape)]
    return [rng.uniform(0, 2, shape)]


def run_twins(ref, nb, arrays, scalars):
    """Apply ref and nb to separate copies of the same arrays; return both sets of results."""
    ref_arrays = [a.copy() for a in arrays]
    nb_arrays = [a.copy() for a in arrays]
    assert ref(*ref_arrays, *scalars) is None
    assert nb(*nb_arrays, *scalars) is None
    return ref_arrays, nb_arrays


@SETTINGS
@given(
    rule=st.sampled_from(sorted(SCALARS)),
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_dense_kernel_equals_twin(rule, shape, seed, data):
    """For Adam this holds kernels.adam_row, the one row update that adam_dense_nb,
    adam_sparse_nb and the models' fused kernels call, to adam_dense_ref (float64)."""
    scalars = data.draw(SCALARS[rule])
    rng = np.random.default_rng(seed)
    param, grad = rng.standard_normal(shape), rng.standard_normal(shape)
    state = random_state(rule, rng, shape)
    ref, nb = twin_pair(rule, "dense")
    ref_out, nb_out = run_twins(ref, nb, [param, grad, *state], scalars)
    for expected, actual in zip(ref_out, nb_out):
        # rtol too: some drawn scalars make values of ~1e3, where float64 rounds at ~1e-13
        np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)
    assert not np.array_equal(ref_out[0], param)  # the step moved the parameter


@SETTINGS
@given(
    rule=st.sampled_from(sorted(SCALARS)),
    n_rows=st.integers(1, 6),
    dim=st.integers(1, 4),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_sparse_kernel_equals_twin_and_touches_only_its_rows(rule, n_rows, dim, seed, data):
    scalars = data.draw(SCALARS[rule])
    rng = np.random.default_rng(seed)
    rows = rng.choice(n_rows, size=data.draw(st.integers(0, n_rows)), replace=False).astype(np.int64)
    param, values = rng.standard_normal((n_rows, dim)), rng.standard_normal((len(rows), dim))
    state = random_state(rule, rng, (n_rows, dim))
    ref, nb = twin_pair(rule, "sparse")
    ref_out, nb_out = run_twins(ref, nb, [param, rows, values, *state], scalars)
    for expected, actual in zip(ref_out, nb_out):
        np.testing.assert_allclose(actual, expected, rtol=1e-12, atol=1e-12)

    # lazy semantics: the listed rows move exactly as a dense step on them alone would, the
    # other rows of the parameter and of every state array stay as they were
    dense_ref = getattr(kernels, f"{rule}_dense_ref")
    gathered = [param[rows].copy(), values, *[s[rows].copy() for s in state]]
    dense_ref(*gathered, *scalars)
    untouched = np.setdiff1d(np.arange(n_rows), rows)
    before = [param, *state]
    after = [nb_out[0], *nb_out[3:]]
    for old, new, moved in zip(before, after, [gathered[0], *gathered[2:]]):
        np.testing.assert_allclose(new[rows], moved, rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(new[untouched], old[untouched])


@pytest.mark.parametrize("suffix", ["ref", "nb"])
def test_sgd_without_momentum_needs_no_velocity(suffix):
    dense, sparse = getattr(kernels, f"sgd_dense_{suffix}"), getattr(kernels, f"sgd_sparse_{suffix}")
    no_velocity = np.zeros((0, 0))
    param = np.ones((3, 2))
    dense(param, np.full((3, 2), 2.0), no_velocity, 0.1, 0.0, 0.0)
    np.testing.assert_allclose(param, 0.8)
    sparse(param, np.array([0, 2]), np.ones((2, 2)), no_velocity, 0.1, 0.0, 0.0)
    np.testing.assert_allclose(param, [[0.7, 0.7], [0.8, 0.8], [0.7, 0.7]])


# --- the rules themselves, worked by hand ----------------------------------------------------


@pytest.mark.parametrize("use_numba", [False, True])
def test_sgd_momentum_two_steps_by_hand(use_numba):
    step = kernels.sgd_dense_nb if use_numba else kernels.sgd_dense_ref
    lr, mu, wd = 0.1, 0.9, 0.5
    p, g, v = np.array([1.0]), np.array([2.0]), np.zeros(1)
    step(p, g, v, lr, mu, wd)  # g' = 2 + 0.5 = 2.5, v = 2.5, p = 1 - 0.25
    np.testing.assert_allclose([p[0], v[0]], [0.75, 2.5])
    step(p, g, v, lr, mu, wd)  # g' = 2 + 0.375, v = 0.9 * 2.5 + 2.375 = 4.625, p = 0.75 - 0.4625
    np.testing.assert_allclose([p[0], v[0]], [0.2875, 4.625])


@pytest.mark.parametrize("use_numba", [False, True])
def test_adam_first_steps_by_hand(use_numba):
    step = kernels.adam_dense_nb if use_numba else kernels.adam_dense_ref
    lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
    grad = np.array([3.0, -0.5, 0.0])
    p, m, v = np.zeros(3), np.zeros(3), np.zeros(3)
    step(p, grad, m, v, lr, b1, b2, eps, 0.0, 1)
    # bias correction makes m_hat = g and v_hat = g^2 at t = 1: each entry moves by ~lr * sign(g)
    np.testing.assert_allclose(p, -lr * grad / (np.abs(grad) + eps))
    np.testing.assert_allclose(m, 0.1 * grad)
    np.testing.assert_allclose(v, 0.001 * grad**2)
    step(p, grad, m, v, lr, b1, b2, eps, 0.0, 2)  # same gradient again: same step again
    np.testing.assert_allclose(p, -2 * lr * grad / (np.abs(grad) + eps), rtol=1e-7)


@pytest.mark.parametrize("use_numba", [False, True])
def test_adagrad_steps_by_hand(use_numba):
    step = kernels.adagrad_dense_nb if use_numba else kernels.adagrad_dense_ref
    p, g, s = np.array([1.0]), np.array([4.0]), np.zeros(1)
    step(p, g, s, 0.5, 0.0, 0.0)  # s = 16, p = 1 - 0.5 * 4 / 4
    np.testing.assert_allclose([p[0], s[0]], [0.5, 16.0])
    step(p, g, s, 0.5, 0.0, 0.0)  # s = 32, p = 0.5 - 0.5 * 4 / sqrt(32)
    np.testing.assert_allclose([p[0], s[0]], [0.5 - 2 / np.sqrt(32), 32.0])


@pytest.mark.parametrize(
    "rule, scalars",
    [
        ("sgd", (0.1, 0.9, 0.01)),
        ("adam", (0.01, 0.9, 0.999, 1e-8, 0.01, 3)),
        ("adagrad", (0.1, 1e-10, 0.01)),
    ],
)
def test_float32_arrays_stay_float32_and_agree(rule, scalars):
    rng = np.random.default_rng(1)
    float64_arrays = [rng.standard_normal((5, 3)), rng.standard_normal((5, 3))]
    float64_arrays += random_state(rule, rng, (5, 3))
    arrays = [a.astype(np.float32) for a in float64_arrays]
    ref_out, nb_out = run_twins(*twin_pair(rule, "dense"), arrays, scalars)
    for expected, actual in zip(ref_out, nb_out):
        assert actual.dtype == np.float32
        np.testing.assert_allclose(actual, expected, rtol=1e-5)
