"""Face geometry: detection + 68 landmarks, similarity alignment, AU centres."""

from keras_au.geometry.alignment import AlignedFace, align_face, similarity_matrix, transform_points
from keras_au.geometry.au_centers import AU_CENTER_TABLE, au_centers
from keras_au.geometry.faces import Detection, Face, FaceDetector, find_landmark_model
from keras_au.geometry.images import ImageError, decode_image, load_image, to_rgb_uint8

__all__ = [
    "AU_CENTER_TABLE",
    "AlignedFace",
    "Detection",
    "Face",
    "FaceDetector",
    "ImageError",
    "align_face",
    "au_centers",
    "decode_image",
    "find_landmark_model",
    "load_image",
    "similarity_matrix",
    "to_rgb_uint8",
    "transform_points",
]
