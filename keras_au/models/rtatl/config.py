"""RTATL configuration: model widths, training settings, variants (paper Table 1) and presets.

The paper fixes ResNet-18, d = 128, 8 heads, 1 encoder + 1 decoder, 48x48 inpainting patches,
5-layer G/D/C, a 2-layer transposed-conv flow head, lambda1 = lambda2 = 0.1, lambda_f = 0.2 and
Adam 3e-4. Everything else (marked "choice") was chosen so the paper preset lands on the paper's
parameter counts (54.62 M training / 19.12 M inference); docs/rtatl.md lists the reasoning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple, Optional

import numpy as np

from keras_au.au import dataset_aus
from keras_au.data.schema import IMAGE_SIZE
from keras_au.models.normalisation import IMAGENET_OFFSET, IMAGENET_SCALE
from keras_au.tasks.config import DictConfig, apply_overrides, build_preset, register_preset


# Mean aligned 68-point shape (200x200 frame) of the two real faces the packages ship (scikit-image's
# astronaut, matplotlib's Grace Hopper), aligned with keras_au.geometry.align_face. Used for RoIs when an
# example has no landmarks, until training replaces it with the training set's mean shape.
DEFAULT_MEAN_LANDMARKS_200 = (
    (39.6, 78.3), (41.0, 94.3), (43.3, 109.7), (45.6, 125.4), (51.5, 140.4), (59.9, 152.3), (71.9, 162.5),
    (84.9, 170.4), (100.5, 172.8), (115.9, 170.5), (130.5, 163.0), (143.4, 153.5), (153.2, 141.3),
    (160.1, 127.4), (163.2, 111.4), (165.3, 94.7), (167.1, 78.0), (46.2, 64.5), (53.1, 54.6), (64.1, 51.9),
    (75.6, 54.0), (86.1, 58.8), (113.1, 58.5), (123.7, 53.8), (135.7, 52.9), (147.2, 55.0), (154.6, 63.9),
    (99.3, 73.8), (99.6, 84.4), (99.9, 95.3), (99.9, 106.2), (85.3, 111.9), (92.4, 113.7), (99.9, 116.1),
    (107.0, 114.4), (113.9, 112.4), (59.3, 75.1), (65.8, 70.7), (74.3, 70.3), (81.9, 76.9), (74.0, 77.9),
    (65.1, 78.2), (118.3, 76.7), (125.8, 71.2), (134.0, 70.9), (141.1, 74.4), (134.7, 78.1), (126.5, 77.7),
    (72.0, 128.8), (81.6, 126.7), (91.8, 125.9), (98.3, 128.0), (105.5, 126.2), (116.3, 126.9), (127.9, 127.4),
    (116.8, 138.9), (106.7, 143.0), (98.5, 144.0), (91.4, 143.4), (81.4, 138.7), (76.1, 129.5), (91.5, 131.4),
    (98.6, 132.1), (105.8, 131.0), (124.2, 128.6), (106.0, 135.8), (99.2, 136.2), (91.7, 136.2),
)

class Variant(NamedTuple):
    """One row of the paper's Table 1: AU relation, RoI inpainting, flow estimation, other pretext task."""

    relation: str
    roii: bool = False
    ofe: bool = False
    pretext: Optional[str] = None  # "rotation", "exemplar" or "jigsaw" (the self-supervised baselines)


# Paper Table 1 rows, in its order. Jigsaw uses ResNet-18 alone ("no RoI modules": relation "none").
VARIANTS: dict[str, Variant] = {
    "backbone_g": Variant("gcn"),
    "backbone_t": Variant("transformer"),
    "rotation": Variant("transformer", pretext="rotation"),
    "exemplar": Variant("transformer", pretext="exemplar"),
    "jigsaw": Variant("none", pretext="jigsaw"),
    "ofe": Variant("transformer", ofe=True),
    "roii": Variant("transformer", roii=True),
    "rtatl": Variant("transformer", roii=True, ofe=True),
}


def default_mean_landmarks(input_size: int) -> list[list[float]]:
    """The built-in mean shape in the centre-cropped ``input_size`` frame."""
    off = (IMAGE_SIZE - input_size) / 2.0
    return (np.asarray(DEFAULT_MEAN_LANDMARKS_200, np.float32) - off).round(2).tolist()


@dataclass
class ModelConfig:
    """Architecture. Sizes in pixels refer to the model's internal ``image_size`` frame."""

    aus: tuple = dataset_aus("bp4d")
    input_size: int = 192  # side S of the crops fed to the model (pipeline crop; export input)
    image_size: int = 192  # side the model works at (input resized when smaller: demo/ci presets)
    resnet_width: int = 64  # ResNet-18 first-stage channels (paper: standard ResNet-18)
    # Input normalisation x * scale + offset on [0, 255] RGB (keras-hub ImageConverter convention). Defaults:
    # ImageNet mean/std (torchvision's); --init PRESET takes them from the preset's image converter.
    input_scale: tuple = IMAGENET_SCALE
    input_offset: tuple = IMAGENET_OFFSET
    fpn_channels: int = 256  # choice: FPN lateral/fused width
    roi_size: int = 12  # choice: RoI crop side on the stride-4 fused map (12 cells = 48 px = patch size)
    roi_channels: int = 144  # choice: hidden width of each AU's two-conv RoI module
    roi_impl: str = "auto"  # RoI modules as one grouped conv ("grouped", GPU) or A convs ("split", CPU)
    dim: int = 128  # d (paper)
    heads: int = 8  # paper
    ffn_dim: int = 2048  # choice: transformer feed-forward width (PyTorch nn.Transformer default)
    dropout: float = 0.1  # choice: PyTorch default
    relation: str = "transformer"  # "transformer" (Backbone^T), "gcn" (Backbone^G) or "none" (ResNet-18 + FC)
    gcn_layers: int = 2  # choice
    prior_graph: Optional[list] = None  # A x A label co-occurrence prior (GCN); identity when None
    global_hidden: int = 0  # choice: hidden units of the global FC (0 = one linear layer)
    mean_landmarks: Optional[list] = None  # 68 x 2, input_size frame; built-in default when None
    patch_size: int = 48  # inpainting patch side (paper)
    g_widths: tuple = (1024, 512, 256, 128)  # choice: generator transposed-conv widths
    d_widths: tuple = (128, 256, 512, 1024)  # choice: discriminator conv widths
    c_widths: tuple = (128, 256, 512, 1024)  # choice: auxiliary AU classifier conv widths
    flow_channels: int = 256  # choice: hidden width of the two-layer flow head

    @property
    def num_aus(self) -> int:
        return len(self.aus)

    @property
    def flow_size(self) -> int:
        """Side of the predicted flow grid (stride 4 of ``image_size``)."""
        return self.image_size // 4

    def resolved_mean_landmarks(self) -> np.ndarray:
        lm = self.mean_landmarks if self.mean_landmarks is not None else default_mean_landmarks(self.input_size)
        return np.asarray(lm, np.float32).reshape(68, 2)


@dataclass
class TrainConfig:
    epochs: int = 20
    steps_per_epoch: int = 1000
    batch_size: int = 32
    learning_rate: float = 3e-4  # paper (backbone + G + flow head)
    critic_learning_rate: float = 3e-4  # paper (D + C)
    lambda_adv: float = 0.1  # lambda1 (paper)
    lambda_cls: float = 0.1  # lambda2 (paper)
    lambda_flow: float = 0.2  # lambda_f (paper)
    unlabeled_fraction: float = 0.5  # choice: share of unlabeled examples per batch when --unlabeled is given
    # Paper: "L_sup is computed only on AUs whose regions are intact". "shared_centres": the blanked AU and the
    # AUs with the same centres (12/14/15, 23/24) drop out; "overlap": every AU with > intact_max_blanked of
    # one of its RoIs blanked drops out (the first implementation; drops about half of the labels).
    sup_mask: str = "shared_centres"
    intact_max_blanked: float = 0.25  # only for sup_mask="overlap"
    # Share of images whose AU patches are blanked. The paper is ambiguous; measured on the sample (seed 0,
    # docs/rtatl.md): 0.5 gave held-out F1 28.5 / AUC 59.1 against 23.3 / 55.6 with 1.0.
    blank_fraction: float = 0.5
    pseudo_source: str = "intact"  # pseudo-labels for C: "intact" (no-gradient pass on the unblanked image) or
    # "blanked" (the training pass, where the AU itself is blanked: the first implementation)
    pseudo_threshold: float = 0.5  # pseudo-labels for unlabeled images (C losses)
    # A labeled image's AU coded unknown (BP4D's 9) as the blanked AU: "pseudo" gives it a pseudo-label like an
    # unlabeled image's; "drop" leaves the patch out of L_C / L_c^g (the paper pseudo-labels unlabeled images).
    unknown_patch_targets: str = "pseudo"
    lambda_pretext: float = 1.0  # choice: weight of the rotation/exemplar/jigsaw loss (paper gives none)
    exemplar_temperature: float = 0.1  # choice: InfoNCE temperature (SimCLR's range)
    jigsaw_permutations: int = 100  # Noroozi & Favaro's smaller permutation set (max. Hamming distance)
    grad_probe_every: int = 0  # every N steps log per-loss gradient norms on the backbone (0: off)
    # OFE refuses records whose TV-L1 targets come from different presets/resolutions (e.g. a shard re-run with
    # another --flow-preset): their flow statistics differ. True trains on the mix anyway (recorded in run.json).
    allow_mixed_flow: bool = False
    # Not in the paper (plain BCE): weight positives per AU, by negatives/positives of the training labels
    # ("neg_over_pos") or by 1/rate ("inverse_rate"; keras_au.losses.balanced_pos_weight says why).
    balance_sup: bool = False
    sup_weight_rule: str = "neg_over_pos"
    sup_pos_weight: Optional[list] = None  # filled by `train` when balance_sup is set
    # Not in the paper: momentum of an exponential moving average of the backbone's weights (and BN statistics),
    # written over them at the end (keras_au.tasks.weight_average); 0 = off, the paper's last weights.
    weight_average: float = 0.0
    weight_average_ramp: float = 10.0  # decay min(momentum, (1 + n) / (ramp + n)); 10: TF's ExponentialMovingAverage
    # Not in the paper (a constant 3e-4): share of the run's last steps over which both learning rates fall
    # linearly to 0 (keras_au.tasks.lr_cooldown); 0 = constant.
    lr_cooldown: float = 0.0
    shuffle_buffer: int = 2048
    seed: int = 0
    xla: bool = False
    mixed_precision: bool = False


@dataclass
class RTATLConfig(DictConfig):
    model_name: str = "rtatl"
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @property
    def relation(self) -> str:
        return self.model.relation

    @property
    def roii(self) -> bool:
        return VARIANTS[self.model_name].roii

    @property
    def ofe(self) -> bool:
        return VARIANTS[self.model_name].ofe

    @property
    def pretext(self) -> Optional[str]:
        return VARIANTS[self.model_name].pretext



@register_preset("rtatl", "paper")
def _paper() -> RTATLConfig:
    return RTATLConfig()


@register_preset("rtatl", "demo")
def _demo() -> RTATLConfig:
    """CPU-sized: a few epochs of the embedded sample within minutes on 2 cores. image_size 96 and roi_size 6
    (the paper's RoI = 1/4 of the face side): 15 % less CPU per step than 128/8 (docs/rtatl.md, "The demo's
    recipe")."""
    return RTATLConfig(
        model=ModelConfig(image_size=96, resnet_width=32, fpn_channels=64, roi_size=6, roi_channels=64, dim=64,
                          ffn_dim=256, patch_size=32, g_widths=(256, 128, 64, 32), d_widths=(32, 64, 128, 256),
                          c_widths=(32, 64, 128, 256), flow_channels=64),
        # 1/rate positive weights (not in the paper): at this AUC F1 at 0.5 flips on the weights, measured in
        # docs/rtatl.md ("F1 at 0.5 on a knife edge"): +5.0 +- 1.0 F1 over negatives/positives, paired, 2 seeds.
        train=TrainConfig(epochs=4, steps_per_epoch=40, batch_size=16, shuffle_buffer=256, balance_sup=True,
                          sup_weight_rule="inverse_rate"))


@register_preset("rtatl", "ci")
def _ci() -> RTATLConfig:
    """Tiny: seconds per epoch, for tests."""
    return RTATLConfig(
        model=ModelConfig(image_size=64, resnet_width=8, fpn_channels=16, roi_size=4, roi_channels=16, dim=16,
                          ffn_dim=32, dropout=0.0, patch_size=16, g_widths=(32, 16, 16, 8),
                          d_widths=(8, 16, 16, 32), c_widths=(8, 16, 16, 32), flow_channels=16),
        train=TrainConfig(epochs=2, steps_per_epoch=3, batch_size=4, shuffle_buffer=16))


def make_config(model_name: str = "rtatl", preset: str = "paper", aus=None, overrides: Optional[dict] = None,
                **train_fields) -> RTATLConfig:
    """Config for a Table 1 variant and preset; ``overrides`` (``--set``) maps field names (optionally
    ``model.<f>``/``train.<f>``) to values; ``train_fields`` are TrainConfig fields (None ignored)."""
    if model_name not in VARIANTS:
        raise ValueError(f"unknown RTATL variant {model_name!r}; known: {', '.join(VARIANTS)}")
    cfg = build_preset("rtatl", preset)
    cfg.model_name, cfg.model.relation = model_name, VARIANTS[model_name].relation
    if aus is not None:
        cfg.model.aus = tuple(int(a) for a in aus)
    apply_overrides(cfg.train, {k: v for k, v in train_fields.items() if v is not None})
    if "model_name" in (overrides or {}):
        raise ValueError("--set model_name: choose the Table 1 row with --model")
    apply_overrides(cfg, overrides or {})
    if cfg.model.relation not in RELATIONS:
        raise ValueError(f"relation must be one of {RELATIONS}")
    _validate(cfg.model)
    _validate_train(cfg.train)
    return cfg


RELATIONS = ("transformer", "gcn", "none")


def _validate_train(t: TrainConfig) -> None:
    from keras_au.losses import POS_WEIGHT_RULES

    if t.sup_weight_rule not in POS_WEIGHT_RULES:
        raise ValueError(f"sup_weight_rule must be one of {POS_WEIGHT_RULES}, got {t.sup_weight_rule!r}")
    if not 0.0 <= t.weight_average < 1.0:
        raise ValueError(f"weight_average is a momentum in [0, 1) (0: off), got {t.weight_average}")
    if not 0.0 <= t.lr_cooldown <= 1.0:
        raise ValueError(f"lr_cooldown is a share of the steps in [0, 1] (0: constant rate), got {t.lr_cooldown}")
    if not t.weight_average_ramp > 1.0:
        raise ValueError(f"weight_average_ramp must be > 1, got {t.weight_average_ramp}")
    if t.unknown_patch_targets not in ("pseudo", "drop"):
        raise ValueError(f"unknown_patch_targets must be 'pseudo' or 'drop', got {t.unknown_patch_targets!r}")
    if t.sup_mask not in ("shared_centres", "overlap"):
        raise ValueError(f"sup_mask must be 'shared_centres' or 'overlap', got {t.sup_mask!r}")
    if t.pseudo_source not in ("intact", "blanked"):
        raise ValueError(f"pseudo_source must be 'intact' or 'blanked', got {t.pseudo_source!r}")
    if not 0.0 <= t.blank_fraction <= 1.0:
        raise ValueError(f"blank_fraction must be in [0, 1], got {t.blank_fraction}")


def _validate(m: ModelConfig) -> None:
    if m.image_size % 32:
        raise ValueError(f"image_size must be a multiple of 32 (ResNet stride), got {m.image_size}")
    if m.image_size > m.input_size:
        raise ValueError("image_size must not exceed input_size (the model only downsamples)")
    if m.patch_size % 16:
        raise ValueError(f"patch_size must be a multiple of 16 (4 stride-2 layers in G/D/C), got {m.patch_size}")
    if m.dim % m.heads:
        raise ValueError(f"dim {m.dim} must be divisible by heads {m.heads}")
