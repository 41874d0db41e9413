"""A certificate per model: ``verify_model(model_class)`` and ``nanorec verify [MODEL|all]``.

Each registered model is fitted on a tiny synthetic log (ratings, timestamps, user and item
features: whatever it needs) with small sizes and float64 parameters, then checked:

    gradient      its network and loss, end to end, against centred finite differences on a
                  batch of its own training data (nanorec.testing.gradcheck): f = the batch loss
    fused         with a fused kernel: two epochs fused and two through the composed network,
                  from the same seed, give the same parameters and losses (relative 1e-9)
    loss falls    the training loss of the short fit ends below where it started
    save/load     the saved file loads into a model that scores every user and item exactly alike

Models that are not networks (Popularity, ItemKNN, ...) get "n/a" for the first three.
"""

import copy
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np

from nanorec.data import datasets
from nanorec.data.split import leave_last_out
from nanorec.models.base import REGISTRY, NetworkRecommender
from nanorec.nn.base import Layer
from nanorec.testing.gradcheck import gradcheck

# small sizes for a certificate: constructor argument -> value, for the models that have it
SMALL = {
    "n_factors": 3, "n_hidden": 4, "layers": (4, 2), "hidden": (4,), "n_epochs": 3, "n_rounds": 3,
    "batch_size": 16, "seq_len": 3, "n_horizontal": 2, "n_vertical": 2, "n_negatives": 2,
    "k": 5, "neighbours": 5, "dtype": np.float64,
}
RTOL = 1e-9  # fused kernel against the composed network, in float64
CHECKS = ("gradient", "fused", "loss falls", "save/load")


@dataclass
class Certificate:
    """What verify_model found: per check, "pass", "FAIL" or "n/a", and a detail."""

    model: str
    results: dict = field(default_factory=dict)  # check -> (verdict, detail)

    @property
    def passed(self):
        return all(verdict != "FAIL" for verdict, _ in self.results.values())

    def as_dict(self):
        return {"model": self.model, "passed": self.passed,
                "checks": {name: {"verdict": verdict, "detail": detail}
                           for name, (verdict, detail) in self.results.items()}}


def tiny_data(seed=0):
    """The certificate's data: (train, test) of a 16-user, 12-item synthetic log, leave-last-out."""
    data = datasets.load("synthetic", n_users=16, n_items=12, n_interactions=130, seed=seed)
    return leave_last_out(data)


def small_model(model_class, **overrides):
    """``model_class`` with its command-line defaults and the SMALL sizes it has."""
    model = model_class(**model_class.cli_defaults)
    params = model.get_params()
    small = {name: value for name, value in SMALL.items() if name in params}
    return model_class(**{**params, **small, **overrides})


def verify_model(model_class, seed=0):
    """The Certificate of a Recommender class (see the module docstring)."""
    name = getattr(model_class, "registered_name", None)
    certificate = Certificate(name if REGISTRY.get(name) is model_class else model_class.__name__)
    train, _ = tiny_data(seed)
    results = certificate.results
    model = _attempt(results, "fit", lambda: small_model(model_class).fit(train))
    if model is None:
        return certificate
    if isinstance(model, NetworkRecommender):
        results["gradient"] = _attempt_check(lambda: _gradient_check(model, train))
        if "fused" in model.get_params():
            results["fused"] = _attempt_check(lambda: _fused_check(model_class, train))
        else:
            results["fused"] = ("n/a", "no fused kernel")
        results["loss falls"] = _loss_falls(model)
    else:
        for name in ("gradient", "fused", "loss falls"):
            results[name] = ("n/a", "not a network")
    results["save/load"] = _attempt_check(lambda: _save_load_check(model, train))
    return certificate


def verify_all(seed=0):
    """Certificates of every registered model, by name."""
    return {name: verify_model(model_class, seed) for name, model_class in REGISTRY.items()}


class Objective(Layer):
    """A network and its loss as one layer: inputs -> [[L]], the batch loss (1, 1), for
    gradcheck. backward(dy) sends dy * dL/dpred down the network; params and grads are the
    network's."""

    def __init__(self, network, loss, target, weight):
        super().__init__()
        self.network, self.loss = network, loss
        self.target, self.weight = target, weight
        self.params, self.grads = network.params, network.grads

    @property
    def children(self):
        return (self.network,)

    def forward(self, inputs):
        value = self.loss.forward(self.network.forward(inputs), self.target, self.weight)
        return np.array([[value]])

    def backward(self, dy):
        return self.network.backward(self.loss.backward() * float(np.asarray(dy).reshape(-1)[0]))


def network_gradcheck(model, train, **options):
    """gradcheck of a fitted float64 network model's objective on a batch of its training data
    (``options``: gradcheck's keyword arguments, e.g. mode="directional")."""
    batch = copy.deepcopy(model._gradcheck_batch(train))  # a target that is the input stays apart
    objective = Objective(model.network_, model._loss(), batch.target, batch.weight)
    model.network_.train()
    try:
        return gradcheck(objective, batch.inputs, **options)
    finally:
        model.network_.zero_grad()
        model.network_.eval()


def _gradient_check(model, train):
    report = network_gradcheck(model, train)
    detail = f"max rel error {report.max_rel_error:.1e} over {len(report.rows)} arrays"
    return ("pass" if report.passed else "FAIL"), detail


def _fused_check(model_class, train):
    fused, composed = (small_model(model_class, n_epochs=2, fused=flag).fit(train)
                       for flag in (True, False))
    worst = 0.0
    for key, value in composed.network_.params.items():
        scale = max(np.abs(value).max(), 1e-12)
        worst = max(worst, float(np.abs(fused.network_.params[key] - value).max() / scale))
    losses = np.array(fused.history_["loss"]) / np.array(composed.history_["loss"]) - 1
    worst = max(worst, float(np.abs(losses).max()))
    return ("pass" if worst <= RTOL else "FAIL"), f"max rel difference {worst:.1e} after 2 epochs"


def _loss_falls(model):
    losses = getattr(model, "history_", {}).get("loss") or getattr(model, "epoch_losses", None)
    if not losses:
        return ("FAIL", "no training loss recorded")
    verdict = "pass" if losses[-1] < losses[0] else "FAIL"
    return verdict, f"{losses[0]:.4f} -> {losses[-1]:.4f} in {len(losses)} epochs"


def _save_load_check(model, train):
    with tempfile.TemporaryDirectory() as folder:
        loaded = type(model).load(model.save(os.path.join(folder, "model")))
    users = np.arange(model.n_users_)
    same = (type(loaded) is type(model)
            and np.array_equal(loaded.score_items(users), model.score_items(users)))
    pairs = (train.user_index, train.item_index)
    same = same and np.array_equal(loaded.score_pairs(*pairs), model.score_pairs(*pairs))
    return ("pass" if same else "FAIL"), "identical scores" if same else "scores differ"


def _attempt(results, name, action):
    try:
        return action()
    except Exception as error:  # a certificate reports a failure instead of stopping
        results[name] = ("FAIL", f"{type(error).__name__}: {error}")
        return None


def _attempt_check(check):
    try:
        return check()
    except Exception as error:
        return ("FAIL", f"{type(error).__name__}: {error}")


def table(certificates):
    """The certificates as a text table: a row per model, a column per check."""
    width = max(len(name) for name in [*certificates, "model"])
    lines = [f"  {'model':<{width}}  " + "  ".join(f"{check:<10}" for check in CHECKS)]
    for name, certificate in certificates.items():
        verdicts = [certificate.results.get(check, ("FAIL", "not run"))[0] for check in CHECKS]
        if "fit" in certificate.results:
            verdicts = ["FAIL"] * len(CHECKS)
        lines.append(f"  {name:<{width}}  " + "  ".join(f"{v:<10}" for v in verdicts))
    failed = [(name, check, detail) for name, certificate in certificates.items()
              for check, (verdict, detail) in certificate.results.items() if verdict == "FAIL"]
    lines += [f"  {name}: {check} failed: {detail}" for name, check, detail in failed]
    return "\n".join(lines)
