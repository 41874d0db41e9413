"""The engine: layers, activations, losses and initializers, each with a hand-written backward."""

from nanorec.nn.activations import LeakyReLU, ReLU, Sigmoid, Tanh, sigmoid
from nanorec.nn.base import Layer, RowSparseGrad
from nanorec.nn.conv import Conv1d, MaxOverTime
from nanorec.nn.layers import (
    Add,
    Branch,
    Concatenate,
    Dense,
    Dot,
    Dropout,
    Embedding,
    Multiply,
    Parallel,
    Sequential,
)
from nanorec.nn.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    BPRLoss,
    Loss,
    MSELoss,
    SoftmaxCrossEntropyLoss,
)
from nanorec.nn.recurrent import RNN

__all__ = [
    "Layer", "RowSparseGrad",
    "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "sigmoid",
    "Dense", "Embedding", "Add", "Dropout", "Dot", "Multiply", "Concatenate",
    "Sequential", "Parallel", "Branch", "Conv1d", "MaxOverTime", "RNN",
    "Loss", "MSELoss", "BCELoss", "BCEWithLogitsLoss", "SoftmaxCrossEntropyLoss", "BPRLoss",
]
