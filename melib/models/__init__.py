"""Networks, one module per method, plus shared backbones.

- :mod:`melib.models.backbones`  timm backbones with an explicit weights source (none/imagenet/file)
- :mod:`melib.models.iicl`       IICL (Li & Zhao 2021): IICLNet, SeqNet, the Table 1-2 variants
- :mod:`melib.models.annotation_mimic`  annotation mimic (Ruan et al. 2022): MimicNet, AWM, AU-CAM, Table 4 variants
- :mod:`melib.models.micro_au_clip`  Micro-AU CLIP (Wei et al.): LSI/PTA, GDA, label-free emotion (Eq. 13)

Import the module you need (``from melib.models.iicl import build_model``); this package imports
nothing eagerly so that one method's heavy dependencies never load for another.
"""
