"""Recommenders built from the engine; raw ids in, raw ids out."""

from nanorec.models.base import Recommender
from nanorec.models.baselines import Popularity, Random
from nanorec.models.knn import ItemKNN
from nanorec.models.mf import BiasedMF, BPRMF

__all__ = ["Recommender", "Popularity", "Random", "ItemKNN", "BiasedMF", "BPRMF"]
