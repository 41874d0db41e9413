"""nanorec: a from-scratch, autograd-free neural-network engine and the recommenders built from it.

    nanorec.nn          layers, activations, losses (forward + hand-written backward)
    nanorec.optim       SGD, Adam, Adagrad (Numba kernels beside NumPy twins)
    nanorec.training    the one training spine: train_step, train_epoch, run_epochs; and
                        fit(network, loss, optimizer, x, y) for any network
    nanorec.gradcheck   finite-difference check of any layer, loss or function
                        (nanorec.testing: verify_model, a certificate per model)
    nanorec.data        Interactions; nanorec.datasets.load(...); nanorec.split.*
    nanorec.evaluation  evaluate, cross_validate;  nanorec.metrics
    nanorec.tune        hyperparameter search on validation folds of train: search (grid or
                        random candidates), successive_halving (nanorec.evaluation.tune)
    nanorec.models      the recommenders (REGISTRY: every model by name);
                        nanorec.privacy: federated, DP-SGD, UserPrivacy, forget
"""

import importlib

__version__ = "0.1.0"
__all__ = ["gradcheck", "datasets", "split", "tune", "__version__"]

# loaded on first use (PEP 562), so that ``import nanorec.<anything>`` stays light and the command
# line can catch a Ctrl-C while it imports the models (nanorec._console)
_LAZY = {"datasets": ("nanorec.data.datasets", None), "split": ("nanorec.data.split", None),
         "gradcheck": ("nanorec.testing.gradcheck", "gradcheck"),
         "tune": ("nanorec.evaluation.tune", None)}


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'nanorec' has no attribute {name!r}")
    module_name, attribute = _LAZY[name]
    module = importlib.import_module(module_name)
    return module if attribute is None else getattr(module, attribute)
