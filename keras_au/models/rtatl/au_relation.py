"""Transformer AU relation (Backbone^T): 1 encoder + 1 decoder, learned AU indicators as queries."""

from __future__ import annotations

import keras
from keras import layers, ops


def _ffn(dim: int, ffn_dim: int, dropout: float, name: str) -> keras.Sequential:
    return keras.Sequential(
        [layers.Dense(ffn_dim, activation="relu"), layers.Dropout(dropout), layers.Dense(dim)], name=name
    )


@keras.saving.register_keras_serializable(package="keras_au")
class AURelationTransformer(keras.layers.Layer):
    """(B, 2A, d) RoI features -> (B, 2A, d) attended RoI features.

    Encoder: self-attention over the 2A RoI tokens, no positional encoding (the set is unordered).
    Decoder: the RoI tokens are the targets and the N = A learned AU indicators (d x A) are added to
    the queries of both attentions (DETR-style query embeddings); AU a's indicator is shared by its two
    RoIs, so the decoder knows which AU a token belongs to. Cross-attention reads the encoder output.
    Post-norm layers as in ``torch.nn.Transformer``.
    """

    def __init__(self, num_aus: int, dim: int = 128, heads: int = 8, ffn_dim: int = 2048, dropout: float = 0.1,
                 **kwargs):
        super().__init__(**kwargs)
        self.num_aus, self.dim, self.heads = int(num_aus), int(dim), int(heads)
        self.ffn_dim, self.dropout = int(ffn_dim), float(dropout)
        key_dim = self.dim // self.heads

        def mha(name):
            return layers.MultiHeadAttention(self.heads, key_dim, dropout=self.dropout, name=name)

        def norm(name):
            return layers.LayerNormalization(epsilon=1e-5, name=name)

        self.enc_attn, self.enc_norm1 = mha("enc_self_attn"), norm("enc_norm1")
        self.enc_ffn, self.enc_norm2 = _ffn(self.dim, self.ffn_dim, self.dropout, "enc_ffn"), norm("enc_norm2")
        self.dec_self, self.dec_norm1 = mha("dec_self_attn"), norm("dec_norm1")
        self.dec_cross, self.dec_norm2 = mha("dec_cross_attn"), norm("dec_norm2")
        self.dec_ffn, self.dec_norm3 = _ffn(self.dim, self.ffn_dim, self.dropout, "dec_ffn"), norm("dec_norm3")
        self.drop = layers.Dropout(self.dropout)

    def build(self, tokens_shape):
        for attention in (self.enc_attn, self.dec_self, self.dec_cross):
            attention.build(tokens_shape, tokens_shape, tokens_shape)
        for layer in (self.enc_norm1, self.enc_ffn, self.enc_norm2, self.dec_norm1, self.dec_norm2, self.dec_ffn,
                      self.dec_norm3):
            layer.build(tokens_shape)
        self.indicators = self.add_weight(
            shape=(self.num_aus, self.dim), initializer=keras.initializers.RandomNormal(stddev=1.0),
            name="au_indicators",
        )

    def call(self, tokens, training=None):
        t = training
        src = tokens
        src = self.enc_norm1(src + self.drop(self.enc_attn(src, src, src, training=t), training=t))
        memory = self.enc_norm2(src + self.drop(self.enc_ffn(src, training=t), training=t))

        query_pos = ops.repeat(ops.cast(self.indicators, tokens.dtype), 2, axis=0)[None]  # (1, 2A, d)
        tgt = tokens
        q = tgt + query_pos
        tgt = self.dec_norm1(tgt + self.drop(self.dec_self(q, tgt, q, training=t), training=t))
        tgt = self.dec_norm2(tgt + self.drop(self.dec_cross(tgt + query_pos, memory, memory, training=t), training=t))
        return self.dec_norm3(tgt + self.drop(self.dec_ffn(tgt, training=t), training=t))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_aus": self.num_aus, "dim": self.dim, "heads": self.heads,
                "ffn_dim": self.ffn_dim, "dropout": self.dropout}
