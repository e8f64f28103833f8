"""Jigsaw puzzles (Noroozi & Favaro), a Table 1 self-supervised row: which permutation shuffled 9 tiles.

The face is cut into a 3x3 grid; from each cell a slightly smaller tile is taken at a random offset (the
gap stops the network from matching tile edges), the tiles are shuffled by one of ``P`` fixed permutations
chosen for large pairwise Hamming distance, each tile goes through the shared ResNet-18, and an MLP on the
concatenated pooled tile features classifies the permutation. The paper trains this row on ResNet-18
alone, without RoI modules (``relation="none"``).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

GRID = 3
TILES = GRID * GRID


def max_hamming_permutations(count: int, seed: int = 0, candidates: int = 4000) -> np.ndarray:
    """(count, 9) permutations picked greedily to maximise the minimum Hamming distance to those chosen."""
    rng = np.random.default_rng(seed)
    pool = np.stack([rng.permutation(TILES) for _ in range(candidates)])
    chosen = [pool[0]]
    dist = np.sum(pool != pool[0], axis=1)
    for _ in range(count - 1):
        i = int(np.argmax(dist))
        chosen.append(pool[i])
        dist = np.minimum(dist, np.sum(pool != pool[i], axis=1))
    return np.stack(chosen).astype(np.int32)


def shuffled_tiles(images: tf.Tensor, perm_index: tf.Tensor, perms: np.ndarray, seed: tf.Tensor,
                   fill: float = 0.85) -> tf.Tensor:
    """(B, S, S, C) images -> (B, 9, c, c, C) tiles in the order ``perms[perm_index]``; c = fill * S / 3."""
    b = tf.shape(images)[0]
    s = images.shape[1]
    cell = s / GRID
    c = int(fill * cell)
    jitter = tf.random.stateless_uniform((b, TILES, 2), seed, 0.0, cell - c)
    grid = np.array([(r * cell, q * cell) for r in range(GRID) for q in range(GRID)], np.float32)  # (9, 2) y, x
    tl = grid[None] + jitter  # (B, 9, 2)
    order = tf.gather(tf.constant(perms), perm_index)  # (B, 9): slot i holds tile order[i]
    tl = tf.gather(tl, order, batch_dims=1)
    denom = float(s - 1)
    boxes = tf.concat([tl / denom, (tl + c - 1) / denom], axis=-1)  # y0, x0, y1, x1
    idx = tf.repeat(tf.range(b), TILES)
    tiles = tf.image.crop_and_resize(images, tf.reshape(boxes, (-1, 4)), idx, (c, c))
    return tf.reshape(tiles, (b, TILES, c, c, images.shape[-1]))


@keras.saving.register_keras_serializable(package="keras_au")
class JigsawHead(keras.layers.Layer):
    """Per-tile global maps (B*9, h, w, c) -> (B, P) permutation logits (float32)."""

    def __init__(self, permutations: int = 100, hidden: int = 256, **kwargs):
        super().__init__(**kwargs)
        self.permutations, self.hidden_units = int(permutations), int(hidden)
        self.hidden = layers.Dense(self.hidden_units, activation="relu", name="jigsaw_hidden")
        self.fc = layers.Dense(self.permutations, dtype="float32", name="jigsaw_fc")

    def build(self, input_shape):
        self.hidden.build((None, TILES * input_shape[-1]))
        self.fc.build((None, self.hidden_units))

    def call(self, tile_maps):
        pooled = ops.mean(tile_maps, axis=(1, 2))
        return self.fc(self.hidden(ops.reshape(pooled, (-1, TILES * pooled.shape[-1]))))

    def get_config(self) -> dict:
        return {**super().get_config(), "permutations": self.permutations, "hidden": self.hidden_units}
