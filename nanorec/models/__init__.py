"""Recommenders built from the engine; raw ids in, raw ids out.

Importing this package imports every module in it, so each model class registers itself
(``@register``) and a new model is one file here: ``nanorec train --help``, ``nanorec verify``
and ``Recommender.load`` find it in REGISTRY.
"""

import importlib
import pkgutil

from nanorec.models.autoencoders import CDAE, AutoRec
from nanorec.models.base import REGISTRY, NetworkRecommender, Recommender, UserPrivacy, register
from nanorec.models.baselines import Popularity, Random
from nanorec.models.coldstart import ColdStartRecommender
from nanorec.models.content import ContentBased, Hybrid
from nanorec.models.distributed import DSGDBiasedMF
from nanorec.models.knn import ItemKNN
from nanorec.models.mf import BiasedMF, BPRMF
from nanorec.models.neural import MatrixFactorization, NeuMF
from nanorec.models.sequence import Caser, RNNRec
from nanorec.scoring import ColdStartError

for _module in pkgutil.iter_modules(__path__):  # the model files not named above register too
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "Recommender", "NetworkRecommender", "ColdStartError", "REGISTRY", "register", "UserPrivacy",
    "Popularity", "Random", "ItemKNN",
    "BiasedMF", "DSGDBiasedMF", "BPRMF", "MatrixFactorization", "NeuMF",
    "AutoRec", "CDAE",
    "Caser", "RNNRec",
    "ContentBased", "Hybrid", "ColdStartRecommender",
]
