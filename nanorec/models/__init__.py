"""Recommenders built from the engine; raw ids in, raw ids out."""

from nanorec.models.autoencoders import CDAE, AutoRec
from nanorec.models.base import REGISTRY, NetworkRecommender, Recommender, UserPrivacy, register
from nanorec.models.baselines import Popularity, Random
from nanorec.models.coldstart import ColdStartRecommender
from nanorec.models.content import ContentBased, Hybrid
from nanorec.models.knn import ItemKNN
from nanorec.models.mf import BiasedMF, BPRMF
from nanorec.models.neural import MatrixFactorization, NeuMF
from nanorec.models.sequence import Caser, RNNRec
from nanorec.scoring import ColdStartError

__all__ = [
    "Recommender", "NetworkRecommender", "ColdStartError", "REGISTRY", "register", "UserPrivacy",
    "Popularity", "Random", "ItemKNN",
    "BiasedMF", "BPRMF", "MatrixFactorization", "NeuMF",
    "AutoRec", "CDAE",
    "Caser", "RNNRec",
    "ContentBased", "Hybrid", "ColdStartRecommender",
]
