"""ADLD-style domain separation and reconstruction: E_l, G_b, G_st and the discriminators D_l, D_d."""

from keras_au.models.wild.separation.background_generator import BackgroundGenerator
from keras_au.models.wild.separation.domain_discriminator import DomainDiscriminator
from keras_au.models.wild.separation.feature_generator import FeatureGenerator
from keras_au.models.wild.separation.landmark_discriminator import LandmarkDiscriminator
from keras_au.models.wild.separation.landmark_encoder import LandmarkEncoder, spatial_softmax

__all__ = [
    "BackgroundGenerator", "DomainDiscriminator", "FeatureGenerator", "LandmarkDiscriminator", "LandmarkEncoder",
    "spatial_softmax",
]
