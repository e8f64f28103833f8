"""ImageNet input normalisation of the ResNet-18 (torchvision's and timm's mean/std), also in the
``x * scale + offset`` form of keras-hub's ``ImageConverter`` on [0, 255] pixels. Shared by the RTATL config
(its default) and ``backbone_init`` (the fallback for a preset without a converter)."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_SCALE = tuple(1.0 / (255.0 * s) for s in IMAGENET_STD)
IMAGENET_OFFSET = tuple(-m / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD))
