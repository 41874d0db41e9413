import numpy as np
import pytest

from nanorec.nn.activations import Sigmoid, Tanh
from nanorec.nn.layers import Dense, Dot, Dropout, Embedding, Parallel, Sequential
from nanorec.nn.losses import BCELoss, BCEWithLogitsLoss, MSELoss, SoftmaxCrossEntropyLoss
from nanorec.optim.optimizers import SGD, Adam
from nanorec.training import accuracy, fit, predict, run_epochs

XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
XOR_Y = np.array([[0], [1], [1], [0]], np.float32)


def mlp(seed=0, hidden=8, dtype=np.float32):
    return Sequential(
        Dense(2, hidden, rng=seed, dtype=dtype),
        Tanh(),
        Dense(hidden, 1, rng=seed + 1, dtype=dtype),
        Sigmoid(),
    )


def regression_data(n=10, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2))
    return x, x @ np.array([[1.0], [-1.0]]) + 0.1 * rng.standard_normal((n, 1))


def test_mlp_learns_xor():
    model = mlp(seed=0)
    history = fit(model, BCELoss(), Adam(model, lr=0.05), XOR_X, XOR_Y, n_epochs=300, batch_size=4)
    assert history["accuracy"][-1] == 1.0
    np.testing.assert_array_equal(predict(model, XOR_X) >= 0.5, XOR_Y == 1)
    assert history["loss"][-1] < 0.05 < history["loss"][0]


def test_same_seed_same_run_other_seed_other_run():
    def run(seed):
        model = mlp(seed=3)
        opt = SGD(model, lr=0.5)
        return fit(model, BCELoss(), opt, XOR_X, XOR_Y, n_epochs=5, batch_size=1, seed=seed)["loss"]

    assert run(0) == run(0)
    assert run(0) != run(1)


def test_epoch_loss_is_the_sample_mean_over_uneven_batches():
    x, y = regression_data(n=10)
    model = Dense(2, 1, dtype=np.float64, rng=0)
    expected = MSELoss().forward(predict(model, x), y)
    frozen = SGD(model, lr=1e-300)  # steps too small to change anything: every batch sees the same model
    history = fit(model, MSELoss(), frozen, x, y, n_epochs=2, batch_size=3)  # batches of 3, 3, 3, 1
    assert history["loss"] == pytest.approx([expected, expected], rel=1e-12)
    weighted = fit(model, MSELoss(), frozen, x, y, n_epochs=1, batch_size=4, weight=np.full(10, 2.0))
    assert weighted["loss"][0] == pytest.approx(2 * expected, rel=1e-12)
    assert set(history) == {"loss"}  # no default metric for a regression loss


def test_multi_input_matrix_factorization_fits_planted_preferences():
    rng = np.random.default_rng(0)
    n_users, n_items = 8, 6
    users, items = np.meshgrid(np.arange(n_users), np.arange(n_items), indexing="ij")
    users, items = users.ravel(), items.ravel()
    liked = ((users % 2) == (items % 2)).astype(np.float32)[:, None]  # two taste groups
    model = Sequential(
        Parallel(
            Embedding(n_users, 4, rng=rng, init="glorot_uniform"),
            Embedding(n_items, 4, rng=rng, init="glorot_uniform"),
        ),
        Dot(),
        Dense(1, 1, rng=rng),
        Sigmoid(),
    )
    opt = Adam(model, lr=0.05)
    history = fit(model, BCELoss(), opt, (users, items), liked, n_epochs=60, batch_size=8)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["accuracy"][-1] == 1.0


def test_multiclass_with_softmax_cross_entropy_and_validation():
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 3.0], [3.0, 0.0], [-3.0, -3.0]])
    labels = rng.integers(0, 3, 150)
    x = (centres[labels] + rng.standard_normal((150, 2))).astype(np.float32)
    model = Dense(2, 3, rng=0)
    history = fit(
        model, SoftmaxCrossEntropyLoss(), SGD(model, lr=0.1, momentum=0.5), x[:100], labels[:100],
        n_epochs=15, validation=(x[100:], labels[100:]),
    )
    assert len(history["valid_loss"]) == len(history["valid_accuracy"]) == 15
    assert history["accuracy"][-1] > 0.9 and history["valid_accuracy"][-1] > 0.9
    assert history["valid_loss"][-1] < history["valid_loss"][0]


def test_accuracy_decision_rules():
    assert accuracy(np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]]), np.array([1, 1])) == 0.5
    binary = accuracy(np.array([[0.2], [0.6], [0.5]]), np.array([[0.0], [1.0], [0.0]]))
    assert binary == pytest.approx(2 / 3)  # 0.5 counts as class 1
    assert accuracy(np.array([-0.1, 0.3]), np.array([0, 1]), threshold=0.0) == 1.0


def test_logits_are_cut_at_zero():
    model = Sequential(Dense(2, 1, rng=0, dtype=np.float64))
    model.params["0.W"][:] = [[1.0], [1.0]]
    x, y = np.array([[0.2, 0.1], [-0.3, -0.1]]), np.array([[1.0], [0.0]])  # logits 0.3 and -0.4
    history = fit(model, BCEWithLogitsLoss(), SGD(model, lr=1e-300), x, y, n_epochs=1)
    assert history["accuracy"] == [1.0]


def test_predict_uses_eval_mode_and_restores_it():
    f64 = dict(dtype=np.float64)
    model = Sequential(Dense(2, 16, rng=0, **f64), Dropout(0.5, rng=1), Dense(16, 1, rng=2, **f64))
    x = np.random.default_rng(0).standard_normal((50, 2))
    first = predict(model, x, batch_size=7)
    np.testing.assert_allclose(first, predict(model, x), rtol=1e-12)  # deterministic: no dropout
    assert model.training  # restored
    assert not np.allclose(first, model.forward(x))  # training mode drops units
    model.eval()
    np.testing.assert_allclose(first, model.forward(x), rtol=1e-12)


def test_verbose_prints_one_line_per_epoch(capsys):
    model = mlp()
    fit(model, BCELoss(), Adam(model), XOR_X, XOR_Y, n_epochs=3, verbose=True, validation=(XOR_X, XOR_Y))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("epoch 3/3  loss ")
    assert "accuracy" in lines[0] and "valid_loss" in lines[0]


def test_early_stopping_keeps_the_best_epoch():
    """Train towards y = 2 x1 + 2 x2 from W = 0, validate on y = x1 + x2: the validation loss falls
    while W passes (1, 1), then rises. The network ends with the best epoch's W, and training
    stops two epochs (the patience) after it."""
    x = np.random.default_rng(0).standard_normal((50, 2))
    model = Dense(2, 1, bias=False, dtype=np.float64, rng=0)
    model.params["W"][:] = 0
    history = fit(model, MSELoss(), SGD(model, lr=0.02), x, x @ [[2.0], [2.0]], n_epochs=100,
                  batch_size=50, validation=(x, x @ [[1.0], [1.0]]), early_stopping=2)
    best = int(np.argmin(history["valid_loss"]))
    assert 3 < best < len(history["loss"]) - 1 == best + 2 < 99
    assert MSELoss().forward(predict(model, x), x @ [[1.0], [1.0]]) == pytest.approx(
        history["valid_loss"][best], rel=1e-12)


def test_run_epochs_stops_on_divergence():
    losses = iter([1.0, float("nan")])
    with pytest.raises(FloatingPointError, match="Mine diverged in epoch 2: the training loss is nan"):
        run_epochs(lambda: next(losses), 3, name="Mine")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(y=XOR_Y[:3]), "share their first axis"),
        (dict(x=(XOR_X, XOR_X[:2])), "share their first axis"),
        (dict(weight=np.ones(5)), "share their first axis"),
        (dict(x=XOR_X[:0], y=XOR_Y[:0]), "no samples"),
        (dict(n_epochs=0), "n_epochs must be an integer >= 1"),
        (dict(batch_size=2.5), "batch_size must be an integer >= 1"),
        (dict(early_stopping=2), "early_stopping needs validation data"),
        (dict(metrics=("auc",)), "unknown metric 'auc'"),
        (dict(validation=(XOR_X,)), r"validation must be a pair"),
        (dict(validation=(XOR_X, XOR_Y[:2])), "validation.*share their first axis"),
    ],
)
def test_fit_rejects_bad_arguments(kwargs, match):
    model = mlp()
    arguments = {"x": XOR_X, "y": XOR_Y, "n_epochs": 1, **kwargs}
    with pytest.raises(ValueError, match=match):
        fit(model, BCELoss(), SGD(model), **arguments)
