"""Shared network parts: timm backbones with an explicit weights source (none/imagenet/file,
:mod:`melib.models.backbones`) and the weights melib ships (``weights/``).

Each paper's own network lives in its package: ``melib.methods.<paper>.model`` (IICL's IICLNet and SeqNet,
annotation mimic's MimicNet and AU-CAM, Micro-AU CLIP's LSI/PTA/GDA with the label-free texts, SelfME's
motion learner and SCViT). Import the module you need; this package imports nothing eagerly so that one
method's heavy dependencies never load for another.
"""
