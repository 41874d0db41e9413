"""The ``nanorec`` command line.

    nanorec [demo] [--seed S]   train a small MLP on XOR and on two moons, print the loss falling
                                and the accuracy, then a table of gradient checks (the default)
    python -m nanorec ...       the same

Each subcommand is one entry of COMMANDS: a function that adds its options to an argparse parser,
and a function ``run(args) -> exit code``. Adding a subcommand is adding an entry.
"""

import argparse
import sys

import numpy as np

from nanorec import __version__
from nanorec.nn.activations import ReLU, Sigmoid, Tanh
from nanorec.nn.layers import Dense, Sequential
from nanorec.nn.losses import BCELoss, BCEWithLogitsLoss, BPRLoss, MSELoss, SoftmaxCrossEntropyLoss
from nanorec.optim.optimizers import Adam
from nanorec.testing.gradcheck import gradcheck
from nanorec.training import accuracy, fit, predict

DEFAULT_COMMAND = "demo"


def main(argv=None):
    """Parse ``argv`` (default: sys.argv[1:]), run the subcommand, return its exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version")):
        argv = [DEFAULT_COMMAND, *argv]
    args = build_parser().parse_args(argv)
    return args.run(args)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="nanorec",
        description="A from-scratch neural-network engine and recommenders built from it.",
    )
    parser.add_argument("--version", action="version", version=f"nanorec {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name, (help_text, add_options, run) in COMMANDS.items():
        default = " (the default)" if name == DEFAULT_COMMAND else ""
        subparser = subparsers.add_parser(name, help=help_text + default, description=help_text)
        add_options(subparser)
        subparser.set_defaults(run=run)
    return parser


# --- demo -------------------------------------------------------------------------------------


def add_demo_options(parser):
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, data and shuffles")


def run_demo(args):
    print(f"nanorec {__version__} demo: a multilayer perceptron trained by hand-written backprop\n")
    _train_and_report(
        "XOR (4 points, full batch): Dense(2, 8) - Tanh - Dense(8, 1) - Sigmoid, BCE loss, Adam",
        *_xor(), hidden=8, n_epochs=300, batch_size=4, seed=args.seed,
    )
    _train_and_report(
        "Two moons (300 train / 100 held-out points): Dense(2, 16) - Tanh - Dense(16, 1) - Sigmoid",
        *_two_moons(400, noise=0.15, rng=np.random.default_rng(args.seed)),
        hidden=16, n_epochs=120, batch_size=32, seed=args.seed, n_train=300,
    )
    reports = _gradient_checks(np.random.default_rng(args.seed))
    print(_gradcheck_table(reports))
    return 0 if all(report.passed for _, report in reports) else 1


def _train_and_report(title, x, y, hidden, n_epochs, batch_size, seed, n_train=None):
    """Fit a Dense-Tanh-Dense-Sigmoid MLP with BCE and Adam; print the loss every few epochs."""
    print(title)
    n_train = len(x) if n_train is None else n_train
    model = Sequential(
        Dense(2, hidden, rng=seed), Tanh(), Dense(hidden, 1, rng=seed + 1), Sigmoid()
    )
    history = fit(
        model, BCELoss(), Adam(model, lr=0.05), x[:n_train], y[:n_train],
        n_epochs=n_epochs, batch_size=batch_size, seed=seed,
    )
    for epoch in range(0, n_epochs, n_epochs // 6):
        print(f"  epoch {epoch + 1:>4}  loss {history.loss[epoch]:.4f}")
    print(f"  epoch {n_epochs:>4}  loss {history.loss[-1]:.4f}")
    line = f"  final accuracy: {accuracy(predict(model, x[:n_train]), y[:n_train]):.1%}"
    if n_train < len(x):
        line += f" (train), {accuracy(predict(model, x[n_train:]), y[n_train:]):.1%} (held-out)"
    print(line + "\n")


def _xor():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    return x, np.array([[0], [1], [1], [0]], np.float32)


def _two_moons(n_samples, noise, rng):
    """Two interleaving half circles with Gaussian noise, shuffled: x (N, 2) float32, y (N, 1).

    Upper moon (label 0): (cos t, sin t); lower moon (label 1): (1 - cos t, 1/2 - sin t); t ~ U(0, pi).
    """
    labels = rng.permutation(np.arange(n_samples) % 2)
    t = rng.uniform(0, np.pi, n_samples)
    upper = np.column_stack([np.cos(t), np.sin(t)])
    lower = np.column_stack([1 - np.cos(t), 0.5 - np.sin(t)])
    x = np.where(labels[:, None] == 1, lower, upper) + noise * rng.standard_normal((n_samples, 2))
    return x.astype(np.float32), labels[:, None].astype(np.float32)


def _gradient_checks(rng):
    """(label, GradcheckReport) for the layers and losses the demo uses, in float64."""
    f64 = np.float64
    x = rng.standard_normal((4, 3))
    away_from_kink = np.where(np.abs(x) < 0.1, 0.5, x)  # ReLU has no derivative at 0
    logits, classes = rng.standard_normal((4, 3)), rng.integers(0, 3, 4)
    probs, labels = rng.uniform(0.1, 0.9, (4, 1)), rng.integers(0, 2, (4, 1)).astype(f64)
    weight = rng.uniform(0.5, 2.0, 4)
    checks = [
        ("Dense(3, 2)", Dense(3, 2, rng=rng, dtype=f64), (x,)),
        ("Sigmoid", Sigmoid(), (x,)),
        ("Tanh", Tanh(), (x,)),
        ("ReLU", ReLU(), (away_from_kink,)),
        ("MSELoss", MSELoss(), (logits, rng.standard_normal((4, 3)))),
        ("BCELoss", BCELoss(), (probs, labels)),
        ("BCEWithLogitsLoss, weighted", BCEWithLogitsLoss(), (logits[:, :1], labels, weight)),
        ("SoftmaxCrossEntropyLoss", SoftmaxCrossEntropyLoss(), (logits, classes)),
        ("BPRLoss (pos, neg)", BPRLoss(), (logits[:, 0], logits[:, 1])),
    ]
    return [(label, gradcheck(layer_or_loss, *inputs)) for label, layer_or_loss, inputs in checks]


def _gradcheck_table(reports):
    h, tol = reports[0][1].h, reports[0][1].tol
    lines = [
        "Gradient check: backward vs central differences "
        f"(float64, h={h:g}, pass if rel error < {tol:g})",
        f"  {'checked':<30}{'max rel error':>14}  result",
    ]
    for label, report in reports:
        verdict = "PASS" if report.passed else "FAIL"
        lines.append(f"  {label:<30}{report.max_rel_error:>14.2e}  {verdict}")
    return "\n".join(lines)


COMMANDS = {
    "demo": ("train a small MLP on XOR and two moons, then check gradients", add_demo_options, run_demo),
}
