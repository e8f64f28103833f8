"""In-the-wild AU detection: multi-task landmark branch with CBAM, ADLD-style domain separation and
reconstruction, contrastive alignment (one module per paper component; ``task`` is the CLI entry)."""

from keras_au.models.wild.au_detector import AUDetector
from keras_au.models.wild.cbam import CBAM
from keras_au.models.wild.config import WildConfig, preset_config
from keras_au.models.wild.contrastive import Projector, contrastive_loss
from keras_au.models.wild.conv_block import ConvBlock
from keras_au.models.wild.feature_extractor import FeatureExtractor
from keras_au.models.wild.inference import AcceptLandmarks, build_inference_model
from keras_au.models.wild.landmark_branch import LandmarkBranch
from keras_au.models.wild.landmark_part import LandmarkPart
from keras_au.models.wild.lr_schedule import LinearDecay, StepLinearDecay
from keras_au.models.wild.network import WildNetwork
from keras_au.models.wild.separation import (
    BackgroundGenerator, DomainDiscriminator, FeatureGenerator, LandmarkDiscriminator, LandmarkEncoder,
)

__all__ = [
    "AUDetector", "AcceptLandmarks", "BackgroundGenerator", "CBAM", "ConvBlock", "DomainDiscriminator",
    "FeatureExtractor", "FeatureGenerator", "LandmarkBranch", "LandmarkDiscriminator", "LandmarkEncoder",
    "LandmarkPart", "LinearDecay", "Projector", "StepLinearDecay", "WildConfig", "WildNetwork", "build_inference_model",
    "contrastive_loss", "preset_config",
]
