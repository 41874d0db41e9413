import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nanorec.nn.base import RowSparseGrad
from nanorec.nn.layers import Dense
from nanorec.nn.losses import MSELoss
from nanorec.optim.optimizers import SGD, Adagrad, Adam

N_ROWS, DIM = 6, 3


class TwoTables:
    """A stand-in model: a dense (4, 3) weight and a (6, 3) table with a row-sparse gradient."""

    def __init__(self, dtype=np.float64, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {
            "W": rng.standard_normal((4, DIM)).astype(dtype),
            "E": rng.standard_normal((N_ROWS, DIM)).astype(dtype),
        }
        self.grads = {"W": np.zeros((4, DIM), dtype), "E": RowSparseGrad((N_ROWS, DIM), dtype)}
        self.zero_grad_calls = 0

    def zero_grad(self):
        self.zero_grad_calls += 1
        self.grads["W"].fill(0)
        self.grads["E"].clear()

    def feed(self, dense_grad, rows, values):
        self.zero_grad()
        self.grads["W"] += dense_grad
        self.grads["E"].add(rows, values)


def random_batches(seed, n_steps, max_rows=8):
    """Per step: a dense gradient, and table rows with repeats plus their gradient values."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(n_steps):
        rows = rng.integers(0, N_ROWS, rng.integers(1, max_rows))
        batches.append((rng.standard_normal((4, DIM)), rows, rng.standard_normal((len(rows), DIM))))
    return batches


def run(make_optimizer, batches, dtype=np.float64, **options):
    model = TwoTables(dtype)
    opt = make_optimizer(model, **options)
    for dense_grad, rows, values in batches:
        model.feed(dense_grad, rows, values)
        opt.step()
    return model, opt


OPTIMIZERS = {
    "sgd": (SGD, dict(lr=0.1)),
    "sgd_momentum": (SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    "adam": (Adam, dict(lr=0.05, weight_decay=0.01)),
    "adagrad": (Adagrad, dict(lr=0.1, weight_decay=0.01)),
}


@settings(max_examples=20, deadline=None)
@given(name=st.sampled_from(sorted(OPTIMIZERS)), seed=st.integers(0, 2**32 - 1))
def test_numba_and_numpy_paths_agree(name, seed):
    cls, options = OPTIMIZERS[name]
    batches = random_batches(seed, n_steps=4)
    fast, fast_opt = run(cls, batches, use_numba=True, **options)
    slow, slow_opt = run(cls, batches, use_numba=False, **options)
    for key in fast.params:
        np.testing.assert_allclose(fast.params[key], slow.params[key], rtol=0, atol=1e-12)
        for state_name, state in fast_opt.state[key].items():
            np.testing.assert_allclose(state, slow_opt.state[key][state_name], rtol=0, atol=1e-12)
    assert not np.allclose(fast.params["W"], TwoTables().params["W"])


@pytest.mark.parametrize("use_numba", [True, False])
def test_plain_sgd_with_repeated_rows_equals_dense_step_on_to_dense(use_numba):
    model = TwoTables()
    rows = np.array([4, 1, 4, 4, 0])
    values = np.arange(15, dtype=np.float64).reshape(5, DIM)
    model.feed(np.ones((4, DIM)), rows, values)
    dense_grad = model.grads["E"].to_dense()
    expected = model.params["E"] - 0.1 * dense_grad
    SGD(model, lr=0.1, use_numba=use_numba).step()
    np.testing.assert_allclose(model.params["E"], expected, atol=1e-12)


def lazy_reference(param, batches, update_row):
    """Hand-written lazy semantics: per step, sum the values of each row, update only those rows."""
    param = param.copy()
    state = {}
    for step, (_, rows, values) in enumerate(batches, start=1):
        summed = {}
        for row, value in zip(rows, values):
            summed[row] = summed.get(row, 0) + value
        for row, grad in summed.items():
            state[row] = update_row(param[row], grad, state.get(row), step)
    return param


def momentum_row(lr, momentum):
    def update(p, g, velocity, step):
        velocity = g if velocity is None else momentum * velocity + g
        p -= lr * velocity
        return velocity

    return update


def adam_row(lr, beta1, beta2, eps):
    def update(p, g, moments, step):
        m, v = moments if moments is not None else (0.0, 0.0)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        p -= lr * (m / (1 - beta1**step)) / (np.sqrt(v / (1 - beta2**step)) + eps)
        return m, v

    return update


@pytest.mark.parametrize("use_numba", [True, False])
@pytest.mark.parametrize(
    "make, update_row",
    [
        (lambda m, u: SGD(m, lr=0.1, momentum=0.8, use_numba=u), momentum_row(0.1, 0.8)),
        (lambda m, u: Adam(m, lr=0.05, use_numba=u), adam_row(0.05, 0.9, 0.999, 1e-8)),
    ],
    ids=["sgd_momentum", "adam"],
)
def test_lazy_sparse_updates_match_hand_written_reference(make, update_row, use_numba):
    batches = random_batches(seed=7, n_steps=6, max_rows=4)  # few rows per step: most rows skip steps
    start = TwoTables().params["E"]
    model, _ = run(lambda m: make(m, use_numba), batches)
    expected = lazy_reference(start, batches, update_row)
    np.testing.assert_allclose(model.params["E"], expected, rtol=0, atol=1e-12)


def test_rows_absent_from_a_batch_keep_parameter_and_state():
    model = TwoTables()
    opt = Adam(model, lr=0.1, weight_decay=0.5)
    model.feed(np.ones((4, DIM)), np.array([0, 1]), np.ones((2, DIM)))
    opt.step()
    untouched_param = model.params["E"][2:].copy()
    moments = [opt.state["E"][name][:2].copy() for name in ("m", "v")]
    model.feed(np.ones((4, DIM)), np.array([3]), np.ones((1, DIM)))
    opt.step()
    np.testing.assert_array_equal(model.params["E"][[2, 4, 5]], untouched_param[[0, 2, 3]])
    for name, before in zip(("m", "v"), moments):
        np.testing.assert_array_equal(opt.state["E"][name][:2], before)  # not decayed


@pytest.mark.parametrize("use_numba", [True, False])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_not_lazy_equals_a_dense_gradient(name, use_numba):
    """lazy=False on a row-sparse gradient takes the steps of the same optimizer given the
    gradient as a dense (R, D) array: every row moves, also those absent from the batch."""
    cls, options = OPTIMIZERS[name]
    batches = random_batches(seed=3, n_steps=5, max_rows=3)  # most rows skip most steps
    model, _ = run(cls, batches, lazy=False, use_numba=use_numba, **options)
    dense_model = TwoTables()
    dense_model.grads["E"] = np.zeros((N_ROWS, DIM))
    dense_opt = cls(dense_model, use_numba=use_numba, **options)
    for dense_grad, rows, values in batches:
        dense_model.grads["W"][...] = dense_grad
        dense_model.grads["E"][...] = 0
        np.add.at(dense_model.grads["E"], rows, values)
        dense_opt.step()
    for key in model.params:
        np.testing.assert_allclose(model.params[key], dense_model.params[key], rtol=0, atol=1e-12)
    lazy_model, _ = run(cls, batches, use_numba=use_numba, **options)
    if name != "sgd":  # with momentum, moments or decay, an absent row moves only when not lazy
        assert not np.allclose(lazy_model.params["E"], model.params["E"])


def test_lazy_must_be_a_bool():
    with pytest.raises(ValueError, match="lazy must be True or False"):
        Adam(TwoTables(), lazy="dense")


@pytest.mark.parametrize("use_numba", [True, False])
def test_a_group_gets_its_own_hyperparameters(use_numba):
    """Weight decay on E only: W steps as without decay, E as with it."""
    batches = random_batches(seed=3, n_steps=3)
    grouped, _ = run(Adam, batches, lr=0.05, weight_decay=0.1, use_numba=use_numba,
                     groups=[{"params": ["W"], "weight_decay": 0.0}])
    decayed, _ = run(Adam, batches, lr=0.05, weight_decay=0.1, use_numba=use_numba)
    plain, _ = run(Adam, batches, lr=0.05, use_numba=use_numba)
    np.testing.assert_array_equal(grouped.params["W"], plain.params["W"])
    np.testing.assert_array_equal(grouped.params["E"], decayed.params["E"])
    assert not np.allclose(grouped.params["E"], plain.params["E"])


@pytest.mark.parametrize(
    "groups, match",
    [
        ([{"weight_decay": 0.0}], "a group is a dict with a 'params' list"),
        ([{"params": ["X"], "lr": 0.1}], "unknown parameter 'X'"),
        ([{"params": ["W"], "momentum": 0.5}], "unknown hyperparameter 'momentum'"),
        ([{"params": ["W"]}, {"params": ["W"], "lr": 0.1}], "'W' is in two groups"),
        ([{"params": ["W"], "lr": -1.0}], "Adam: lr must be a finite number"),
    ],
)
def test_bad_groups(groups, match):
    with pytest.raises(ValueError, match=match):
        Adam(TwoTables(), groups=groups)


# --- convex problems: the loss falls to the closed-form optimum ------------------------------


def least_squares_problem(seed=0, n=64, d=3):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = x @ np.array([[1.5], [-2.0], [0.5]]) + 0.3 + 0.1 * rng.standard_normal((n, 1))
    design = np.hstack([x, np.ones((n, 1))])
    solution = np.linalg.lstsq(design, y, rcond=None)[0]
    optimum = float(np.mean((design @ solution - y) ** 2))
    return x, y, solution, optimum


@pytest.mark.parametrize(
    "make",
    [
        lambda model: SGD(model, lr=0.1),
        lambda model: SGD(model, lr=0.05, momentum=0.9),
        lambda model: Adam(model, lr=0.05),
        lambda model: Adagrad(model, lr=0.5),
    ],
    ids=["sgd", "sgd_momentum", "adam", "adagrad"],
)
def test_optimizer_solves_least_squares(make):
    x, y, solution, optimum = least_squares_problem()
    model = Dense(3, 1, dtype=np.float64, rng=0)
    loss, opt = MSELoss(), make(model)
    history = []
    for _ in range(300):
        history.append(loss.forward(model.forward(x), y))
        model.backward(loss.backward())
        opt.step()
        opt.zero_grad()
    assert np.mean(history[-5:]) < np.mean(history[:5])
    assert history[-1] == pytest.approx(optimum, rel=1e-3)
    fitted = np.concatenate([model.params["W"][:, 0], model.params["b"]])
    np.testing.assert_allclose(fitted, solution[:, 0], atol=1e-2)


def test_hyperparameters_change_the_result():
    batches = random_batches(seed=3, n_steps=3)
    base = run(Adam, batches, lr=0.05)[0].params["W"]
    changes = [("lr", 0.1), ("beta1", 0.5), ("beta2", 0.9), ("eps", 0.5), ("weight_decay", 1.0)]
    for option, value in changes:
        changed = run(Adam, batches, **{"lr": 0.05, option: value})[0].params["W"]
        assert not np.allclose(changed, base), option


# --- bookkeeping and errors -----------------------------------------------------------------


@pytest.mark.parametrize("cls", [SGD, Adam, Adagrad])
def test_state_keeps_param_dtype_and_step_counts(cls):
    model, opt = run(cls, random_batches(seed=1, n_steps=2), dtype=np.float32)
    assert opt.step_count == 2
    for key, state in opt.state.items():
        for array in state.values():
            assert array.dtype == np.float32
        assert model.params[key].dtype == np.float32


def test_plain_sgd_stores_no_velocity():
    opt = SGD(TwoTables(), lr=0.1)
    assert all(state["velocity"].size == 0 for state in opt.state.values())


def test_zero_grad_calls_the_model():
    model = TwoTables()
    opt = SGD(model)
    model.grads["W"] += 1.0
    opt.zero_grad()
    assert model.zero_grad_calls == 1 and not model.grads["W"].any()


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda m: SGD(m, lr=0.0), ValueError, r"SGD: lr must be a finite number in \(0, inf\)"),
        (lambda m: SGD(m, lr=float("nan")), ValueError, "lr must be"),
        (lambda m: SGD(m, lr="fast"), ValueError, "lr must be a finite number"),
        (lambda m: SGD(m, momentum=1.0), ValueError, r"momentum must be a finite number in \[0, 1\)"),
        (lambda m: SGD(m, weight_decay=-0.1), ValueError, "weight_decay must be a finite number"),
        (lambda m: Adam(m, beta1=1.0), ValueError, "beta1"),
        (lambda m: Adam(m, beta2=-0.1), ValueError, "beta2"),
        (lambda m: Adam(m, eps=0.0), ValueError, "eps"),
        (lambda m: Adagrad(m, eps=-1.0), ValueError, "eps"),
    ],
)
def test_bad_hyperparameters(make, error, match):
    with pytest.raises(error, match=match):
        make(TwoTables())


def test_bad_models():
    with pytest.raises(TypeError, match="needs a model with `params` and `grads`"):
        SGD(object())
    model = TwoTables()
    model.grads["W"] = np.zeros((4, 2))
    with pytest.raises(ValueError, match="gradient must be an ndarray of shape"):
        Adam(model)
    model = TwoTables()
    model.params["W"] = np.zeros((DIM, 4)).T
    model.grads["W"] = np.zeros((4, DIM))
    with pytest.raises(ValueError, match="C-contiguous"):
        SGD(model)
    model = TwoTables()
    del model.grads["W"]
    with pytest.raises(ValueError, match="different keys"):
        SGD(model)


def test_row_out_of_range_is_caught_before_the_kernel():
    model = TwoTables()
    opt = SGD(model)
    model.feed(np.zeros((4, DIM)), np.array([2, N_ROWS]), np.ones((2, DIM)))
    with pytest.raises(IndexError, match=f"gradient of 'E': row {N_ROWS} is outside"):
        opt.step()
