"""All modules of the in-the-wild model and the two-round separation/reconstruction forward pass."""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from keras_au.models.wild.au_detector import AUDetector
from keras_au.models.wild.config import WildConfig
from keras_au.models.wild.contrastive import PAIRS, Projector
from keras_au.models.wild.feature_extractor import FeatureExtractor
from keras_au.models.wild.landmark_branch import LandmarkBranch
from keras_au.models.wild.separation import (
    BackgroundGenerator, DomainDiscriminator, FeatureGenerator, LandmarkDiscriminator, LandmarkEncoder,
)


@keras.saving.register_keras_serializable(package="keras_au")
class WildNetwork(keras.Model):
    """E_f, landmark branch, E_l, G_b, G_st, F_au, projectors P_ij, D_l and the two D_d (source, target).

    ``translate`` runs both rounds of ADLD's separation/reconstruction for a source and a target batch;
    ``predict_source``/``predict_target`` are ADLD's test paths (E_f -> F_au on source-domain images;
    E_f -> (E_l, G_b) -> G_st -> F_au on target-domain images); ``call`` is the exported one.
    Gradient stops follow ADLD's public code: G_b sees a detached F, G_st a detached attention, and the
    second round's E_l is a frozen copy (stateless call on stop-gradient weights).
    """

    def __init__(
        self, aus: Sequence[int] = (1, 2, 4, 6, 12, 17), input_size: int = 176, crop_size: int = 176,
        part_widths: Sequence[int] = (32, 64, 128, 256, 512), landmark_fc_units: int = 512, cbam_reduction: int = 16,
        cbam_kernel: int = 7, separation_width: int = 64, generator_width: int = 128, discriminator_width: int = 64,
        au_width: int = 64, au_depth: int = 4, separation_depth: int = 4, num_landmarks: int = 49,
        use_landmark_branch: bool = True, use_contrastive: bool = True,
        export_path: str = "target", domain_score: str = "image", **kwargs,
    ):
        super().__init__(**kwargs)
        self.aus = tuple(int(a) for a in aus)
        self.input_size, self.crop_size = input_size, crop_size
        self.part_widths = tuple(int(w) for w in part_widths)
        self.landmark_fc_units, self.cbam_reduction, self.cbam_kernel = landmark_fc_units, cbam_reduction, cbam_kernel
        self.separation_width, self.generator_width = separation_width, generator_width
        self.discriminator_width, self.au_width, self.num_landmarks = discriminator_width, au_width, num_landmarks
        self.au_depth, self.separation_depth = au_depth, separation_depth
        self.use_landmark_branch, self.use_contrastive = use_landmark_branch, use_contrastive
        self.export_path, self.domain_score = export_path, domain_score
        channels = self.part_widths[1]

        self.feature_extractor = FeatureExtractor(self.part_widths[:2], input_size, name="E_f")
        self.landmark_branch = LandmarkBranch(
            self.part_widths, landmark_fc_units, num_landmarks, input_size, cbam_reduction, cbam_kernel,
            name="landmark_branch") if use_landmark_branch else None
        self.landmark_encoder = LandmarkEncoder(separation_width, num_landmarks, separation_depth, name="E_l")
        self.background_generator = BackgroundGenerator(separation_width, channels, separation_depth, name="G_b")
        self.feature_generator = FeatureGenerator(generator_width, channels, name="G_st")
        self.au_detector = AUDetector(len(self.aus), au_width, au_depth, name="F_au")
        self.landmark_discriminator = LandmarkDiscriminator(
            separation_width, num_landmarks, separation_depth, name="D_l")
        self.source_discriminator = DomainDiscriminator(discriminator_width, domain_score, name="D_d_source")
        self.target_discriminator = DomainDiscriminator(discriminator_width, domain_score, name="D_d_target")
        self.projector_list = [
            Projector(separation_width if p in ("sl", "tl") else channels, name=f"P_{p}") for p in PAIRS
        ] if use_contrastive else []

    @classmethod
    def from_wild_config(cls, cfg: WildConfig, **kwargs) -> "WildNetwork":
        return cls(
            aus=cfg.aus, input_size=cfg.input_size, crop_size=cfg.crop_size, part_widths=cfg.part_widths,
            landmark_fc_units=cfg.landmark_fc_units, cbam_reduction=cfg.cbam_reduction, cbam_kernel=cfg.cbam_kernel,
            separation_width=cfg.separation_width, generator_width=cfg.generator_width,
            discriminator_width=cfg.discriminator_width, au_width=cfg.au_width, au_depth=cfg.au_depth,
            separation_depth=cfg.separation_depth, num_landmarks=cfg.num_landmarks,
            use_landmark_branch=cfg.use_landmark_branch, use_contrastive=cfg.use_contrastive,
            export_path=cfg.export_path, domain_score=cfg.domain_score, **kwargs,
        )

    @property
    def projectors(self) -> dict:
        return dict(zip(PAIRS, self.projector_list))

    # --- module groups (one optimizer each) -----------------------------------------------------------

    def discriminator_variables(self) -> list:
        return [v for m in (self.landmark_discriminator, self.source_discriminator, self.target_discriminator)
                for v in m.trainable_variables]

    def generator_variables(self) -> list:
        mods = [self.background_generator, self.feature_generator, *self.projector_list]
        return [v for m in mods for v in m.trainable_variables]

    def task_variables(self) -> list:
        """E_f, E_l, F_au and the landmark head (parts 3-5, CBAM, FCs; parts 1-2 live on in E_f)."""
        mods = [self.feature_extractor, self.landmark_encoder, self.au_detector]
        if self.landmark_branch is not None:
            lb = self.landmark_branch
            mods += [*lb.parts[2:], lb.cbam, lb.fc1, lb.act, lb.fc2]
        return [v for m in mods for v in m.trainable_variables]

    # --- building ---------------------------------------------------------------------------------------

    def build(self, input_shape=None):
        if self.built:
            return
        image = (None, self.crop_size, self.crop_size, 3)
        s, c = self.input_size // 4, self.part_widths[1]
        feat, maps = (None, s, s, c), (None, s, s, self.num_landmarks)
        self.feature_extractor.build(image)
        if self.landmark_branch is not None:
            self.landmark_branch.build(image)
        self.landmark_encoder.build(feat)
        self.background_generator.build(feat)
        self.feature_generator.build((maps, feat))
        self.au_detector.build(feat)
        self.landmark_discriminator.build(feat)
        self.source_discriminator.build(feat)
        self.target_discriminator.build(feat)
        for key, p in self.projectors.items():
            p.build((None, s, s, self.separation_width if key in ("sl", "tl") else c))
        self.built = True

    # --- forward pieces -----------------------------------------------------------------------------------

    def frozen_landmark_encoder(self, features):
        """E_l with stop-gradient weights (ADLD's per-step copy for the second round): gradients reach the
        generated features but never E_l itself."""
        enc = self.landmark_encoder
        trainable = [ops.stop_gradient(v) for v in enc.trainable_variables]
        outputs, _ = enc.stateless_call(trainable, [v.value for v in enc.non_trainable_variables], features)
        return outputs

    def landmarks_from_stem(self, stem, training=None):
        """Landmark head on E_f's pre-tanh map -> (B, 49, 2) in crop units."""
        return self.landmark_branch.head(stem, training=training)

    def translate(self, source_images, target_images, training=None, self_reconstruction: bool = False) -> dict:
        """Both rounds. Keys: F_s, F_t, stem_s, stem_t, att/Fl/R for s,t; Fb_s, Fb_t; F_sltb, F_tlsb;
        second round R2_sl, R2_tl, Fl2_sl, Fl2_tl, Fb2_sb, Fb2_tb, F2_s, F2_t; AU logits au_s, au_sltb;
        optionally F_ss, F_tt (self-reconstructions).

        E_l, G_b and G_st normalise per sample (instance norm), so each is run once on the two domains
        stacked along the batch: identical results, half the graph.
        """
        E_l, G_b, G_st = self.landmark_encoder, self.background_generator, self.feature_generator
        sg = ops.stop_gradient
        o = {}
        # E_f and F_au use batch norm: one call per domain, as in ADLD.
        o["stem_s"], o["F_s"] = self.feature_extractor(source_images, training=training, return_stem=True)
        o["stem_t"], o["F_t"] = self.feature_extractor(target_images, training=training, return_stem=True)
        F = stack_domains(o["F_s"], o["F_t"])
        split_domains(o, ("att_s", "att_t"), ("Fl_s", "Fl_t"), ("R_s", "R_t"), *E_l(F))
        split_domains(o, ("Fb_s", "Fb_t"), G_b(sg(F)))
        # Round 1: swap backgrounds (source landmarks + target background, and vice versa).
        att = sg(stack_domains(o["att_s"], o["att_t"]))
        split_domains(o, ("F_sltb", "F_tlsb"), G_st((att, stack_domains(o["Fb_t"], o["Fb_s"]))))
        if self_reconstruction:
            split_domains(o, ("F_ss", "F_tt"), G_st((att, stack_domains(o["Fb_s"], o["Fb_t"]))))
        # Round 2: separate the swapped features again and swap back -> cross-cycle reconstructions.
        swapped = stack_domains(o["F_sltb"], o["F_tlsb"])
        split_domains(o, ("att2_sl", "att2_tl"), ("Fl2_sl", "Fl2_tl"), ("R2_sl", "R2_tl"),
               *self.frozen_landmark_encoder(swapped))
        split_domains(o, ("Fb2_tb", "Fb2_sb"), G_b(sg(swapped)))
        att2 = sg(stack_domains(o["att2_sl"], o["att2_tl"]))
        split_domains(o, ("F2_s", "F2_t"), G_st((att2, stack_domains(o["Fb2_sb"], o["Fb2_tb"]))))
        o["au_s"] = self.au_detector(o["F_s"], training=training)
        o["au_sltb"] = self.au_detector(o["F_sltb"], training=training)
        return o

    def project(self, o: dict) -> tuple[dict, dict]:
        """(P_ij(F'_ij), F_ij) for the six pairs of L_c."""
        reconstructed = {"s": o["F2_s"], "t": o["F2_t"], "sl": o["Fl2_sl"], "sb": o["Fb2_sb"],
                         "tl": o["Fl2_tl"], "tb": o["Fb2_tb"]}
        originals = {"s": o["F_s"], "t": o["F_t"], "sl": o["Fl_s"], "sb": o["Fb_s"], "tl": o["Fl_t"], "tb": o["Fb_t"]}
        return {k: self.projectors[k](v) for k, v in reconstructed.items()}, originals

    # --- test-time paths --------------------------------------------------------------------------------

    def predict_source(self, images, training=False):
        """AU probabilities, source-domain path: E_f -> F_au."""
        return ops.sigmoid(self.au_detector(self.feature_extractor(images, training=training), training=training))

    def predict_target(self, images, training=False):
        """AU probabilities, target-domain path: E_f -> (E_l, G_b) -> G_st -> F_au (ADLD's target test)."""
        f = self.feature_extractor(images, training=training)
        att, _, _ = self.landmark_encoder(f)
        f = self.feature_generator((att, self.background_generator(f)))
        return ops.sigmoid(self.au_detector(f, training=training))

    def predict_landmarks(self, images, training=False):
        """(landmark branch (B,49,2) or None, E_l soft-argmax (B,49,2)), both in crop units."""
        stem, f = self.feature_extractor(images, training=training, return_stem=True)
        branch = self.landmarks_from_stem(stem, training=training) if self.landmark_branch is not None else None
        att, _, _ = self.landmark_encoder(f)
        return branch, soft_argmax(att)

    def call(self, images, training=False):
        path = self.predict_target if self.export_path == "target" else self.predict_source
        return path(images, training=training)

    def get_config(self) -> dict:
        return {**super().get_config(), "aus": list(self.aus), "input_size": self.input_size,
                "crop_size": self.crop_size, "part_widths": list(self.part_widths),
                "landmark_fc_units": self.landmark_fc_units, "cbam_reduction": self.cbam_reduction,
                "cbam_kernel": self.cbam_kernel, "separation_width": self.separation_width,
                "generator_width": self.generator_width, "discriminator_width": self.discriminator_width,
                "au_width": self.au_width, "au_depth": self.au_depth, "separation_depth": self.separation_depth,
                "num_landmarks": self.num_landmarks,
                "use_landmark_branch": self.use_landmark_branch, "use_contrastive": self.use_contrastive,
                "export_path": self.export_path, "domain_score": self.domain_score}


def stack_domains(a, b):
    """Source and target tensors stacked along the batch (for per-sample-normalised modules)."""
    return ops.concatenate([a, b], axis=0)


def split_domains(out: dict, *names_and_tensors) -> None:
    """split_domains(out, (k1, k2), ..., t1, ...): first/second half of each stacked tensor -> out[k1]/out[k2].

    Source and target batches have equal sizes (the cross-domain swap pairs them one to one, as ADLD does).
    """
    n = len(names_and_tensors) // 2
    for (k1, k2), t in zip(names_and_tensors[:n], names_and_tensors[n:]):
        half = ops.shape(t)[0] // 2
        out[k1], out[k2] = t[:half], t[half:]


def soft_argmax(attention):
    """Expected (x, y) of each attention map, in units of the map side (cell centres), (B, L, 2)."""
    h, w = attention.shape[1], attention.shape[2]
    ys = (ops.arange(h, dtype="float32") + 0.5) / h
    xs = (ops.arange(w, dtype="float32") + 0.5) / w
    a = ops.cast(attention, "float32")
    x = ops.sum(a * xs[None, None, :, None], axis=(1, 2))
    y = ops.sum(a * ys[None, :, None, None], axis=(1, 2))
    return ops.stack([x, y], axis=-1)
