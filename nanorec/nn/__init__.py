"""The engine: layers, activations, losses and initializers, each with a hand-written backward,
and GradientFlow, which records the gradient flowing through a network's layers (for lessons)."""

from nanorec.nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh, sigmoid
from nanorec.nn.base import Layer, RowSparseGrad
from nanorec.nn.conv import Conv1d, MaxOverTime, VerticalConv
from nanorec.nn.instruments import GradientFlow, LayerTrace
from nanorec.nn.layers import (
    Add,
    Branch,
    Concatenate,
    Dense,
    Dot,
    Dropout,
    Embedding,
    ItemScores,
    Multiply,
    Network,
    PairScores,
    Parallel,
    ProfileMatch,
    Sequential,
    SparseDense,
    SparseRows,
)
from nanorec.nn.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    BPRLoss,
    Loss,
    MaskedLoss,
    MSELoss,
    SoftmaxCrossEntropyLoss,
)
from nanorec.nn.recurrent import RNN

__all__ = [
    "Layer", "RowSparseGrad",
    "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "sigmoid",
    "Dense", "Embedding", "Add", "Dropout", "Dot", "Multiply", "Concatenate", "ProfileMatch",
    "ItemScores", "PairScores", "SparseDense", "SparseRows", "Sequential", "Parallel", "Branch", "Network",
    "Conv1d", "MaxOverTime", "VerticalConv", "RNN",
    "Loss", "MSELoss", "BCELoss", "BCEWithLogitsLoss", "SoftmaxCrossEntropyLoss", "BPRLoss",
    "MaskedLoss",
    "GradientFlow", "LayerTrace",
]
