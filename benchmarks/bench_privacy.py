"""What privacy costs on MovieLens-100K: federated training, DP-SGD at several epsilons, forgetting.

Question: how much rating accuracy (test RMSE) do we lose when (a) the ratings never leave the
users' devices (FederatedMF, FedAvg over a fraction of the clients per round), (b) training is
(epsilon, delta)-differentially private per rating (DPBiasedMF, DP-SGD, delta = 1e-5), against
centralized BiasedMF with the same number of factors; and (c) what does forgetting one user cost,
exact (a refit without them) against approximate (drop their row, fine-tune 2 epochs)?

Protocol: one 80/20 random holdout (nanorec.data.split.holdout, seed 0); RMSE of every model on
the same test ratings (scored by index, so test items unseen in train fall back to the biases).
For DP-SGD the noise multiplier for each target epsilon comes from the RDP accountant
(nanorec.privacy.dp.noise_multiplier_for_epsilon) for the run's sampling rate and step count;
epsilon = inf is the same DP-SGD (clipping included) with noise multiplier 0.
The forgotten user is the one with the most train ratings (the most expensive to unlearn
approximately, the same refit cost exactly). Numba compiles on a tiny warm-up set first.

    python benchmarks/bench_privacy.py [--data PATH] [--quick] [--out DIR]

--data     the ml-100k zip or folder (default: the nanorec data home)
--quick    fewer rounds and epochs (a smoke run; numbers not comparable)

Prints a markdown table and writes JSON (machine, versions, hyperparameters, seeds) under
benchmarks/results/. Needs dp-accounting (pip install "nanorec[privacy]") for the DP rows.
"""

import argparse
import datetime
import logging
import sys
import warnings

import numpy as np
from _common import RESULTS_DIR, load_data, machine_info, markdown_table, publish, timed

from nanorec.data.split import ColdStartWarning, holdout
from nanorec.models.mf import BiasedMF
from nanorec.privacy.consent import forget
from nanorec.privacy.dp import DPBiasedMF, noise_multiplier_for_epsilon
from nanorec.privacy.federated import FederatedMF

SEED = 0
DELTA = 1e-5
N_FACTORS = 20
CENTRAL = dict(n_factors=N_FACTORS, n_epochs=20, lr=0.005, reg=0.02)
FEDERATED = dict(n_factors=N_FACTORS, n_rounds=200, local_epochs=1, lr=0.5, server_lr=100.0, reg=0.05)
CLIENT_FRACTIONS = (0.1, 0.3, 1.0)
DP = dict(n_factors=N_FACTORS, n_epochs=40, batch_size=1000, lr=1.5, reg=0.02, max_grad_norm=1.0,
          rating_range=(1, 5))
EPSILONS = (1.0, 3.0, 8.0, float("inf"))
QUICK = dict(n_rounds=20, n_epochs=2)


def test_rmse(model, test):
    errors = test.ratings - model.score_pairs(test.user_index, test.item_index)
    return float(np.sqrt(np.mean(errors**2)))


def jit_warmup(train):
    tiny = train.subset(np.arange(500))
    models = (BiasedMF(n_epochs=1), BiasedMF(n_epochs=1, dtype=np.float64),
              DPBiasedMF(n_epochs=1, batch_size=50))
    _, seconds = timed(lambda: [model.fit(tiny) for model in models])
    return seconds


def quick(options, enabled):
    """The options with fewer rounds / epochs when --quick."""
    return {**options, **{k: v for k, v in QUICK.items() if k in options}} if enabled else options


def model_rows(train, test, is_quick):
    rows = []

    def add(name, setting, make_model, **extra):
        model, fit_s = timed(make_model().fit, train)
        rows.append({"name": name, "setting": setting, "rmse": test_rmse(model, test), "fit_s": fit_s,
                     **extra})
        print(f"  {rows[-1]}", file=sys.stderr)

    central = quick(CENTRAL, is_quick)
    add("BiasedMF (centralized)", f"{central['n_epochs']} epochs",
        lambda: BiasedMF(**central, random_state=SEED, dtype=np.float64))
    federated = quick(FEDERATED, is_quick)
    for fraction in CLIENT_FRACTIONS:
        add("FederatedMF", f"client_fraction={fraction}, {federated['n_rounds']} rounds",
            lambda: FederatedMF(**federated, client_fraction=fraction, random_state=SEED),
            client_fraction=fraction)
    dp = quick(DP, is_quick)
    sampling_rate = dp["batch_size"] / len(train)
    n_steps = dp["n_epochs"] * round(len(train) / dp["batch_size"])
    for epsilon in EPSILONS:
        sigma = noise_multiplier_for_epsilon(epsilon, sampling_rate, n_steps, DELTA)
        add("DPBiasedMF", f"epsilon={epsilon:g}, sigma={sigma:.3f}",
            lambda: DPBiasedMF(**dp, noise_multiplier=sigma, random_state=SEED),
            epsilon=epsilon, delta=DELTA, noise_multiplier=sigma, sampling_rate=sampling_rate,
            n_steps=n_steps)
    return rows


def forget_rows(train, test, is_quick):
    """Forget the most active train user: exact refit against approximate fine-tuning."""
    central = quick(CENTRAL, is_quick)
    model = BiasedMF(**central, random_state=SEED, dtype=np.float64).fit(train)
    user_index = int(np.argmax(np.bincount(train.user_index, minlength=train.n_users)))
    user_id = train.user_ids[user_index].item()
    others = test.subset(test.user_index != user_index)
    rows = []
    for mode in ("exact", "approximate"):
        result = forget(model, train, user_id, mode=mode, finetune_epochs=2)
        kept = result.train
        # the test rows of the other users, re-indexed in the smaller vocabularies
        users = kept.user_to_index(others.user_ids[others.user_index])
        in_vocabulary = np.isin(others.item_ids[others.item_index], kept.item_ids)
        items = kept.item_to_index(others.item_ids[others.item_index][in_vocabulary])
        errors = others.ratings[in_vocabulary] - result.model.score_pairs(users[in_vocabulary], items)
        n_ratings = int(np.sum(train.user_index == user_index))
        rows.append({"name": f"forget ({mode})", "setting": f"user {user_id} ({n_ratings} train ratings)",
                     "rmse": float(np.sqrt(np.mean(errors**2))), "fit_s": result.seconds})
        print(f"  {rows[-1]}", file=sys.stderr)
    return rows


def run(data_path, is_quick):
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    machine = machine_info()
    data = load_data(data_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ColdStartWarning)
        train, test = holdout(data, test_size=0.2, seed=SEED)
    warmup_s = jit_warmup(train)
    return {
        "benchmark": "privacy: MovieLens-100K, 80/20 holdout, test RMSE",
        "started_utc": started,
        "machine": machine,
        "config": {"data": {"n_users": data.n_users, "n_items": data.n_items, "n_ratings": len(data)},
                   "split": {"holdout": 0.2, "seed": SEED, "n_train": len(train), "n_test": len(test)},
                   "quick": is_quick, "central": CENTRAL, "federated": FEDERATED, "dp": DP,
                   "delta": DELTA, "model_seed": SEED, "dtype": "float64"},
        "jit_warmup_s": warmup_s,
        "rows": model_rows(train, test, is_quick) + forget_rows(train, test, is_quick),
    }


def report(results):
    table = markdown_table(
        ["model", "setting", "test RMSE", "fit (or forget) s"],
        [[r["name"], r["setting"], f"{r['rmse']:.4f}", f"{r['fit_s']:.2f}"] for r in results["rows"]],
    )
    machine = results["machine"]
    return (f"{results['benchmark']}\n{machine['cpu']}, {machine['cores']} cores, load average "
            f"{machine['load_average_at_start']}\n\n{table}\n\n"
            "DP rows: example-level (one rating) (epsilon, delta=1e-5)-DP, RDP accountant.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="ml-100k zip or folder")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and epochs")
    parser.add_argument("--out", default=RESULTS_DIR, help="folder for the JSON results")
    args = parser.parse_args(argv)
    logging.getLogger("absl").setLevel(logging.ERROR)  # dp-accounting's notes on skipped RDP orders
    results = run(args.data, args.quick)
    publish("bench_privacy", results, report(results), args.out)


if __name__ == "__main__":
    main()
