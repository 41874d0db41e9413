"""verify_model: every registered model gets a passing certificate, and a model with a wrong
backward, a fused kernel that takes other steps, or a learned value that save does not keep,
gets a FAIL on exactly that check."""

import json

import numpy as np
import pytest

import nanorec.privacy  # noqa: F401  (registers dp-biased-mf and federated-mf)
from nanorec.models import REGISTRY, BiasedMF, NetworkRecommender, Popularity, register
from nanorec.models.mf import BiasedMFNetwork
from nanorec.testing.verify import CHECKS, Certificate, table, tiny_data, verify_all, verify_model


@pytest.fixture
def registered():
    """register(name, ...)(cls) for one test: the name leaves REGISTRY afterwards, so the tests
    that iterate over REGISTRY (the CLI's, this file's) never see the test models."""
    added = []

    def add(name, model_class):
        register(name, f"test model {model_class.__name__}", needs=model_class.needs,
                 cli_defaults=model_class.cli_defaults)(model_class)
        added.append(name)
        return model_class

    yield add
    for name in added:
        REGISTRY.pop(name, None)


def verdicts(certificate):
    return {check: verdict for check, (verdict, _) in certificate.results.items()}


# ---------------------------------------------------------------------- every registered model
@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_registered_model_is_certified(name):
    certificate = verify_model(REGISTRY[name])
    assert certificate.passed, table({name: certificate})
    assert certificate.model == name and set(certificate.results) == set(CHECKS)
    model_class = REGISTRY[name]
    expected = "pass" if issubclass(model_class, NetworkRecommender) else "n/a"
    assert verdicts(certificate)["gradient"] == expected
    assert verdicts(certificate)["save/load"] == "pass"


def test_the_registry_holds_the_models_of_the_notes():
    assert {"popularity", "random", "item-knn", "biased-mf", "bpr", "mf", "neumf", "autorec",
            "cdae", "caser", "rnn", "content", "hybrid", "cold-start", "dp-biased-mf",
            "federated-mf"} <= set(REGISTRY)


def test_verify_all_gives_one_certificate_per_model_and_a_json_form():
    certificates = verify_all()
    assert list(certificates) == list(REGISTRY)
    assert all(certificate.passed for certificate in certificates.values())
    as_json = json.loads(json.dumps([c.as_dict() for c in certificates.values()]))
    assert [entry["model"] for entry in as_json] == list(REGISTRY)
    assert len(table(certificates).splitlines()) == 1 + len(REGISTRY)  # no failure lines


# ---------------------------------------------------------------------- it fails where it should
class DoubledBackwardNetwork(BiasedMFNetwork):
    """BiasedMF's network with a backward that sends 2 dy down: every gradient twice too large."""

    def backward(self, dy):
        return super().backward(2 * dy)


class DoubledBackwardMF(BiasedMF):
    def _build_network(self, rng=None):
        return DoubledBackwardNetwork(self.n_users_, self.n_items_, self.n_factors,
                                      self.global_mean_, self.init_std, rng, self.dtype)


class OtherStepFusedMF(BiasedMF):
    """BiasedMF whose fused kernel runs with a learning rate 1% above the network's."""

    def _fused_epoch(self, samples, optimizer):
        lr = self.lr
        self.lr = 1.01 * lr
        try:
            return super()._fused_epoch(samples, optimizer)
        finally:
            self.lr = lr


class ForgetfulPopularity(Popularity):
    """Popularity plus a learned per-item shift kept in a private attribute, which save skips
    (only attributes named like ``item_counts_`` are saved): a loaded model has no shift."""

    _shift = 0.0

    def _fit(self, train, valid):
        super()._fit(train, valid)
        self._shift = np.random.default_rng(0).random(self.n_items_)

    def score_items(self, user_index):
        return super().score_items(user_index) + self._shift


def test_the_test_models_pass_what_they_do_not_break(registered):
    """A correct subclass registered the same way is certified: the failures below are the bugs'."""

    class PlainMF(BiasedMF):
        pass

    assert verify_model(registered("test-plain-mf", PlainMF)).passed


def test_a_wrong_backward_fails_the_gradient_check(registered):
    certificate = verify_model(registered("test-doubled-backward", DoubledBackwardMF))
    assert not certificate.passed and certificate.model == "test-doubled-backward"
    verdict, detail = certificate.results["gradient"]
    assert verdict == "FAIL" and "max rel error" in detail
    assert verdicts(certificate)["fused"] == "FAIL"  # the kernel follows the true gradient
    assert verdicts(certificate)["save/load"] == "pass"
    assert "test-doubled-backward: gradient failed" in table({certificate.model: certificate})


def test_a_fused_kernel_that_takes_other_steps_fails_the_fused_check(registered):
    certificate = verify_model(registered("test-other-step", OtherStepFusedMF))
    assert verdicts(certificate) == {"gradient": "pass", "fused": "FAIL", "loss falls": "pass",
                                     "save/load": "pass"}
    assert "max rel difference" in certificate.results["fused"][1]


def test_save_load_detects_a_learned_value_that_is_not_saved(registered):
    certificate = verify_model(registered("test-forgetful", ForgetfulPopularity))
    assert verdicts(certificate)["save/load"] == "FAIL"
    assert certificate.results["save/load"][1] == "scores differ"
    assert [check for check, verdict in verdicts(certificate).items() if verdict == "FAIL"] == [
        "save/load"]


def test_a_model_that_cannot_be_fitted_fails_its_certificate():
    class Broken(BiasedMF):
        def _fit(self, train, valid):
            raise RuntimeError("no")

    certificate = verify_model(Broken)
    assert not certificate.passed and certificate.results["fit"] == ("FAIL", "RuntimeError: no")
    assert table({"broken": certificate}).splitlines()[1].split()[1:] == ["FAIL"] * len(CHECKS)


def test_certificates_are_deterministic_and_seeded():
    train, test = tiny_data(0)
    again, _ = tiny_data(0)
    np.testing.assert_array_equal(train.item_index, again.item_index)
    assert len(train) + len(test) == 130 and train.n_users == 16
    first, second = (verify_model(BiasedMF, seed=1) for _ in range(2))
    assert first.results == second.results
    assert isinstance(first, Certificate) and first.as_dict()["passed"] is True


def test_an_unregistered_subclass_is_certified_under_its_own_name():
    class MyBiasedMF(BiasedMF):
        """Not registered: verify names it by its class, and MyBiasedMF.load reads its files."""

    certificate = verify_model(MyBiasedMF)
    assert certificate.model == "MyBiasedMF" and certificate.passed, certificate.results
