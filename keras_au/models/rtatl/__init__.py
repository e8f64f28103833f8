"""RTATL (regional and temporal auxiliary task learning, ACM MM 2021) in Keras 3.

Importing this package registers every RTATL layer with Keras, which ``keras.saving.load_model``
needs to read an exported ``model.keras``.
"""

from keras_au.models.rtatl.au_heads import AUHeads
from keras_au.models.rtatl.au_relation import AURelationTransformer
from keras_au.models.rtatl.backbone import RTATLBackbone, build_inference_model
from keras_au.models.rtatl.config import ModelConfig, RTATLConfig, TrainConfig, make_config
from keras_au.models.rtatl.flow_head import FlowHead
from keras_au.models.rtatl.fpn_fusion import FPNFusion
from keras_au.models.rtatl.gcn_relation import AURelationGCN
from keras_au.models.rtatl.roi_inpainting import PatchClassifier, PatchDiscriminator, PatchGenerator
from keras_au.models.rtatl.roi_modules import RoIModules

__all__ = [
    "AUHeads", "AURelationGCN", "AURelationTransformer", "FPNFusion", "FlowHead", "ModelConfig", "PatchClassifier",
    "PatchDiscriminator", "PatchGenerator", "RTATLBackbone", "RTATLConfig", "RoIModules", "TrainConfig",
    "build_inference_model", "make_config",
]
