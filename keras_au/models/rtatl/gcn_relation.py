"""GCN AU relation (Backbone^G): graph convolution over RoI tokens on a fixed label co-occurrence prior."""

from __future__ import annotations

from typing import Optional

import keras
import numpy as np
from keras import layers, ops


def prior_graph_from_labels(labels: np.ndarray, threshold: float = 0.4) -> np.ndarray:
    """(N, A) labels (1/0, negative = unknown) -> symmetric binary (A, A) co-occurrence prior.

    Edge i-j when P(j | i) or P(i | j) >= ``threshold`` over examples where both labels are known
    (ML-GCN-style binarised conditional probabilities); self loops are added by the layer.
    """
    y = np.asarray(labels)
    known = (y >= 0).astype(np.float64)
    pos = (y == 1).astype(np.float64)
    co = pos.T @ pos  # both present
    n_i = pos.T @ known  # i present and j known
    cond = np.divide(co, n_i, out=np.zeros_like(co), where=n_i > 0)  # P(j | i)
    adj = ((cond >= threshold) | (cond.T >= threshold)).astype(np.float32)
    np.fill_diagonal(adj, 0.0)
    return adj


def normalized_token_adjacency(prior: np.ndarray) -> np.ndarray:
    """A x A prior -> 2A x 2A D^-1/2 (A + I) D^-1/2 over tokens; an AU's two RoIs are linked to each other
    and share the AU's edges."""
    a = np.kron(np.asarray(prior, np.float64) > 0, np.ones((2, 2))) + np.eye(2 * len(prior))
    a = (a > 0).astype(np.float64)
    d = 1.0 / np.sqrt(a.sum(1))
    return (a * d[:, None] * d[None, :]).astype(np.float32)


@keras.saving.register_keras_serializable(package="keras_au")
class AURelationGCN(keras.layers.Layer):
    """(B, 2A, d) -> (B, 2A, d): ``layers`` residual graph convolutions H + ReLU(Â H W), then LayerNorm.

    The prior (A x A, from training labels) lives in the config, so it is saved with the model.
    """

    def __init__(self, num_aus: int, dim: int = 128, num_layers: int = 2, prior_graph: Optional[list] = None,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_aus, self.dim, self.num_layers = int(num_aus), int(dim), int(num_layers)
        prior = np.zeros((self.num_aus, self.num_aus), np.float32) if prior_graph is None else np.asarray(prior_graph)
        if prior.shape != (self.num_aus, self.num_aus):
            raise ValueError(f"prior_graph must be {self.num_aus}x{self.num_aus}, got {prior.shape}")
        self.prior_graph = prior.astype(np.float32)
        self.adjacency = normalized_token_adjacency(self.prior_graph)
        self.dense = [layers.Dense(self.dim, use_bias=False, name=f"gcn_{i}") for i in range(self.num_layers)]
        self.norm = layers.LayerNormalization(epsilon=1e-5, name="norm")

    def build(self, tokens_shape):
        shape = tokens_shape
        for dense in self.dense:
            dense.build(shape)
            shape = (*shape[:-1], self.dim)
        self.norm.build(shape)

    def call(self, tokens, training=None):
        adj = ops.cast(self.adjacency, tokens.dtype)
        h = tokens
        for dense in self.dense:
            h = h + ops.relu(ops.einsum("ij,bjd->bid", adj, dense(h)))
        return self.norm(h)

    def get_config(self) -> dict:
        return {**super().get_config(), "num_aus": self.num_aus, "dim": self.dim, "num_layers": self.num_layers,
                "prior_graph": self.prior_graph.tolist()}
