"""IICL (Li & Zhao 2021): the network, the sequence baselines and the Table 1-2 variants.

Networks
--------
:class:`IICLNet` (Fig. 2): backbone -> pooled feature f (fed to the contrastive losses) -> dropout ->
linear AU head (logits). Training sees onset, close-to-apex and apex frames through the same
weights; testing uses the apex alone. The SEnet, RESnet, CL, TL, IntraCL, InterCL and IICL rows all
use this network; they differ only in backbone and loss.

:class:`SeqNet` (the SEseq / RESseq rows of Table 2): the three frames' features are fused
(``fusion="concat"``, the default, keeps which frame is which; ``"mean"`` averages them; the paper
only says "aggregating") and one head classifies the fused feature, at training and test time.

Harness interface
-----------------
Frames are ``(B, 3, H, W)`` float tensors keyed ``"onset"``, ``"close"``, ``"apex"``; labels are the
``(B, M)`` multi-hot AU vector. One loop serves every variant::

    variant = VARIANTS[name]
    model = build_model(name, n_aus, backbone_size="18", weights="none")
    outputs = model.forward_frames({k: batch[k] for k in variant.inputs})
    losses = variant_loss(variant, outputs, batch["aus"], lam=0.1)   # {"total": ..., term: ...}
    losses["total"].backward()
    probs = model.predict_frames({k: batch[k] for k in variant.test_inputs})  # (B, M) in [0, 1]

``forward_frames`` returns a flat dict: ``feat_<frame>`` ``(B, D)`` and ``logits_<frame>`` ``(B, M)``
for each frame given (IICLNet; all frames go through the backbone as one batch of 3B images) or
``feat_seq`` / ``logits_seq`` (SeqNet). ``IICLNet.predict(apex)`` and
``SeqNet.predict(onset, close, apex)`` are the direct forms; both run in eval mode and restore the
previous mode.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

#: How IICLNet.forward_frames batches the frame types through BatchNorm (see its docstring).
BATCHNORM_MODES = ("joint", "separate")

from melib.losses import DEFAULT_MARGIN, au_bce, contrastive_loss, triplet_loss
from melib.methods.iicl.losses import DEFAULT_LAMBDA, iicl_total
from melib.methods.spec import look_up
from melib.models.backbones import create_backbone

FRAMES = ("onset", "close", "apex")
APEX_ONLY = ("apex",)
FUSIONS = ("concat", "mean")
BACKBONE_SIZES = ("50", "18")


def _check_frames(frames: Mapping[str, Tensor], needed: tuple[str, ...], who: str) -> None:
    unknown = sorted(set(frames) - set(FRAMES))
    missing = [k for k in needed if k not in frames]
    if unknown or missing:
        raise ValueError(f"{who}: frames must be keyed by {FRAMES}; missing {missing}, unknown {unknown}")
    shapes = {k: tuple(v.shape) for k, v in frames.items()}
    if len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 4:
        raise ValueError(f"{who}: every frame must be a (B, C, H, W) tensor of the same shape; got {shapes}")


class _Predictor(nn.Module):
    """Shared eval-mode prediction: sigmoid of the logits, without gradients."""

    @torch.no_grad()
    def _probabilities(self, *inputs: Tensor) -> Tensor:
        was_training = self.training
        self.eval()
        try:
            return torch.sigmoid(self(*inputs)[1])
        finally:
            self.train(was_training)


class IICLNet(_Predictor):
    """Backbone -> pooled feature -> linear AU head (IICL Fig. 2).

    Parameters
    ----------
    n_aus
        Number of AUs M (8 on CASME II, 4 on SAMM).
    backbone, weights
        See :func:`melib.models.backbones.create_backbone`; the paper uses SE-ResNet-50 pre-trained
        on VGG-Face (pass the converted file as ``weights``).
    dropout
        Dropout before the head; the paper names none, so the default 0 leaves it out.
    """

    def __init__(self, n_aus: int, backbone: str = "seresnet50", weights: str | Path = "none",
                 dropout: float = 0.0, **backbone_kw: Any):
        super().__init__()
        if n_aus < 1:
            raise ValueError(f"n_aus must be >= 1, got {n_aus}")
        self.backbone, self.feature_dim, self.weights_description = create_backbone(
            backbone, weights, **backbone_kw)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.feature_dim, n_aus)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(B, 3, H, W)`` images -> (features ``(B, D)``, AU logits ``(B, M)``)."""
        features = self.backbone(x)
        return features, self.head(self.dropout(features))

    def forward_frames(self, frames: Mapping[str, Tensor], batchnorm: str = "joint") -> dict[str, Tensor]:
        """Run every given frame (must include ``apex``); see the module docstring.

        ``batchnorm="joint"`` (default, the natural reading of Fig. 2's shared weights) sends onset,
        close and apex through the backbone as one batch of 3B, so BatchNorm's training statistics mix
        the three frame types; the apex-only baseline normalises apexes alone. ``"separate"`` runs
        each frame type as its own batch of B, which makes the ablation rows compare like with like.
        """
        _check_frames(frames, APEX_ONLY, "IICLNet.forward_frames")
        if batchnorm not in BATCHNORM_MODES:
            raise ValueError(f"batchnorm must be one of {BATCHNORM_MODES}; got {batchnorm!r}")
        names = [k for k in FRAMES if k in frames]
        if batchnorm == "joint":
            features, logits = self(torch.cat([frames[k] for k in names]))
            pairs = zip(features.chunk(len(names)), logits.chunk(len(names)))
        else:
            pairs = (self(frames[k]) for k in names)
        out: dict[str, Tensor] = {}
        for name, (f, z) in zip(names, pairs):
            out[f"feat_{name}"], out[f"logits_{name}"] = f, z
        return out

    def predict(self, apex: Tensor) -> Tensor:
        """AU probabilities ``(B, M)`` from the apex frame alone (IICL testing protocol)."""
        return self._probabilities(apex)

    def predict_frames(self, frames: Mapping[str, Tensor]) -> Tensor:
        """:meth:`predict` on ``frames["apex"]`` (other frames are ignored)."""
        _check_frames(frames, APEX_ONLY, "IICLNet.predict_frames")
        return self.predict(frames["apex"])


class SeqNet(_Predictor):
    """SEseq / RESseq baseline: onset, close-to-apex and apex features fused, then one AU head.

    ``fusion="concat"`` (default) concatenates the three features in the order onset, close, apex
    (head input 3D); ``"mean"`` averages them (head input D).
    """

    def __init__(self, n_aus: int, backbone: str = "seresnet50", weights: str | Path = "none",
                 dropout: float = 0.0, fusion: str = "concat", **backbone_kw: Any):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if n_aus < 1:
            raise ValueError(f"n_aus must be >= 1, got {n_aus}")
        self.fusion = fusion
        self.backbone, self.feature_dim, self.weights_description = create_backbone(
            backbone, weights, **backbone_kw)
        self.dropout = nn.Dropout(dropout)
        fused_dim = self.feature_dim * (len(FRAMES) if fusion == "concat" else 1)
        self.head = nn.Linear(fused_dim, n_aus)

    def forward(self, onset: Tensor, close: Tensor, apex: Tensor) -> tuple[Tensor, Tensor]:
        """Three ``(B, 3, H, W)`` batches -> (fused features, AU logits ``(B, M)``)."""
        _check_frames({"onset": onset, "close": close, "apex": apex}, FRAMES, "SeqNet.forward")
        per_frame = self.backbone(torch.cat([onset, close, apex])).chunk(len(FRAMES))
        fused = torch.cat(per_frame, dim=1) if self.fusion == "concat" else torch.stack(per_frame).mean(0)
        return fused, self.head(self.dropout(fused))

    def forward_frames(self, frames: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``{"feat_seq": fused features, "logits_seq": logits}`` from all three frames."""
        _check_frames(frames, FRAMES, "SeqNet.forward_frames")
        features, logits = self(*(frames[k] for k in FRAMES))
        return {"feat_seq": features, "logits_seq": logits}

    def predict(self, onset: Tensor, close: Tensor, apex: Tensor) -> Tensor:
        """AU probabilities ``(B, M)`` from the three frames."""
        return self._probabilities(onset, close, apex)

    def predict_frames(self, frames: Mapping[str, Tensor]) -> Tensor:
        """:meth:`predict` on a frames dict holding onset, close and apex."""
        _check_frames(frames, FRAMES, "SeqNet.predict_frames")
        return self.predict(*(frames[k] for k in FRAMES))


@dataclass(frozen=True)
class Variant:
    """One row of IICL Tables 1-2: which network, which inputs, which loss terms.

    ``pair_loss`` picks a baseline loss instead of IntraCL/InterCL. Choices the paper leaves open:
    CL uses positives (apex, close) and negatives (onset, apex); TL uses anchor apex, positive close,
    negative onset. CL and TL keep both BCE terms (apex and close) so that only the contrastive part
    differs from IntraCL/IICL; InterCL needs only the apex, as in the paper's Eq. 5.
    """

    name: str
    family: str                     # "seresnet" or "resnet"
    inputs: tuple[str, ...]         # frames the training forward needs
    test_inputs: tuple[str, ...]    # frames prediction needs
    sequence: bool = False          # SeqNet instead of IICLNet
    use_intra: bool = False         # L_OA, L_OC, L_AC and the close-to-apex BCE (Eqs. 1-3, 7)
    use_inter: bool = False         # L_NA (Eqs. 4-5)
    pair_loss: str | None = None    # "contrastive" (CL) or "triplet" (TL)
    close_bce: bool = False         # the close-to-apex BCE alone (Eq. 6 on the close frame), no contrastive term
    paper_row: str = ""

    def __post_init__(self) -> None:
        if self.family not in ("seresnet", "resnet"):
            raise ValueError(f"variant {self.name!r}: family must be 'seresnet' or 'resnet', got {self.family!r}")
        if self.pair_loss not in (None, "contrastive", "triplet"):
            raise ValueError(f"variant {self.name!r}: pair_loss must be None, 'contrastive' or 'triplet'")
        needs_all = self.sequence or self.use_intra or self.pair_loss is not None or self.close_bce
        if (needs_all and set(self.inputs) != set(FRAMES)) or "apex" not in self.inputs:
            raise ValueError(f"variant {self.name!r}: inputs {self.inputs} do not fit its losses")

    @property
    def loss_terms(self) -> tuple[str, ...]:
        """Names of the terms :func:`variant_loss` returns besides ``"total"``."""
        if self.sequence:
            return ("bce_seq",)
        terms = ["bce_apex"]
        if self.use_intra or self.pair_loss or self.close_bce:
            terms.append("bce_close")
        if self.use_intra:
            terms += ["oa", "oc", "ac"]
        if self.use_inter:
            terms.append("na")
        if self.pair_loss:
            terms.append({"contrastive": "cl", "triplet": "tl"}[self.pair_loss])
        return tuple(terms)


VARIANTS: dict[str, Variant] = {
    "senet": Variant("senet", "seresnet", APEX_ONLY, APEX_ONLY, paper_row="Baseline (SEnet), Tables 1-3"),
    "seseq": Variant("seseq", "seresnet", FRAMES, FRAMES, sequence=True, paper_row="SEseq, Tables 2-3"),
    "resnet": Variant("resnet", "resnet", APEX_ONLY, APEX_ONLY, paper_row="RESnet, Tables 2-3"),
    "resseq": Variant("resseq", "resnet", FRAMES, FRAMES, sequence=True, paper_row="RESseq, Tables 2-3"),
    "cl": Variant("cl", "seresnet", FRAMES, APEX_ONLY, pair_loss="contrastive", paper_row="CL [9], Tables 2-3"),
    "tl": Variant("tl", "seresnet", FRAMES, APEX_ONLY, pair_loss="triplet", paper_row="TL [23], Tables 2-3"),
    "intracl": Variant("intracl", "seresnet", FRAMES, APEX_ONLY, use_intra=True, paper_row="IntraCL, Table 1"),
    # melib's control, not in the paper: the baseline with IntraCL's extra close-to-apex BCE and the same
    # three-frame batches, no contrastive term, to separate the extra frames from L_OA, L_OC, L_AC
    "senet_close": Variant("senet_close", "seresnet", FRAMES, APEX_ONLY, close_bce=True,
                           paper_row="none (melib's control: Baseline + close-to-apex BCE)"),
    "intercl": Variant("intercl", "seresnet", APEX_ONLY, APEX_ONLY, use_inter=True, paper_row="InterCL, Table 1"),
    "iicl": Variant("iicl", "seresnet", FRAMES, APEX_ONLY, use_intra=True, use_inter=True,
                    paper_row="IICL, Tables 1-3"),
}


def get_variant(variant: str | Variant) -> Variant:
    """Look up a variant by name (or pass a :class:`Variant` through)."""
    return look_up(VARIANTS, variant, Variant, "IICL variant")


def build_model(variant: str | Variant, n_aus: int, backbone_size: str = "50",
                weights: str | Path = "none", dropout: float = 0.0, fusion: str = "concat",
                **backbone_kw: Any) -> IICLNet | SeqNet:
    """The network for a variant: ``<family><size>`` backbone, e.g. ``seresnet50`` or ``resnet18``.

    ``backbone_size="50"`` is the paper's depth, ``"18"`` the fast profile's. ``fusion`` applies to
    the sequence variants only.
    """
    v = get_variant(variant)
    size = str(backbone_size)
    if size not in BACKBONE_SIZES:
        raise ValueError(f"backbone_size must be one of {BACKBONE_SIZES}, got {backbone_size!r}")
    backbone = f"{v.family}{size}"
    if v.sequence:
        return SeqNet(n_aus, backbone, weights, dropout=dropout, fusion=fusion, **backbone_kw)
    return IICLNet(n_aus, backbone, weights, dropout=dropout, **backbone_kw)


def _take(outputs: Mapping[str, Tensor], keys: tuple[str, ...], v: Variant) -> list[Tensor]:
    missing = [k for k in keys if k not in outputs]
    if missing:
        raise ValueError(f"variant {v.name!r} needs model outputs {missing}; call model.forward_frames "
                         f"with frames {v.inputs} (got outputs {sorted(outputs)})")
    return [outputs[k] for k in keys]


def variant_loss(variant: str | Variant, outputs: Mapping[str, Tensor], labels: Tensor,
                 lam: float = DEFAULT_LAMBDA, margin: float = DEFAULT_MARGIN,
                 pos_weight: Tensor | None = None) -> dict[str, Tensor]:
    """Loss of one variant from ``forward_frames`` outputs: ``{"total": ..., <term>: ...}``.

    Terms follow :attr:`Variant.loss_terms`; total = sum of the BCE terms (Eq. 6) + ``lam`` times
    the sum of the contrastive terms, as in Eq. 7. ``pos_weight`` (M,) weights every BCE term's
    positives (:func:`melib.losses.au_bce`; ``None`` = the paper's unweighted Eq. 6).
    """
    v = get_variant(variant)
    if v.sequence:
        (logits,) = _take(outputs, ("logits_seq",), v)
        bce = au_bce(logits, labels, pos_weight)
        return {"total": bce, "bce_seq": bce}
    if v.close_bce:
        _, _, _, z_a, z_c = _take(outputs, ("feat_onset", "feat_apex", "feat_close", "logits_apex", "logits_close"), v)
        terms = {"bce_apex": au_bce(z_a, labels, pos_weight), "bce_close": au_bce(z_c, labels, pos_weight)}
        return {"total": terms["bce_apex"] + terms["bce_close"], **terms}
    if v.pair_loss is None:
        needs = ("feat_onset", "feat_apex", "feat_close", "logits_apex", "logits_close") if v.use_intra \
            else ("feat_apex", "logits_apex")
        _take(outputs, needs, v)
        return iicl_total(outputs.get("feat_onset"), outputs["feat_apex"], outputs.get("feat_close"),
                          outputs["logits_apex"], outputs.get("logits_close"), labels, lam=lam,
                          margin=margin, use_intra=v.use_intra, use_inter=v.use_inter, pos_weight=pos_weight)
    f_o, f_a, f_c, z_a, z_c = _take(
        outputs, ("feat_onset", "feat_apex", "feat_close", "logits_apex", "logits_close"), v)
    terms = {"bce_apex": au_bce(z_a, labels, pos_weight), "bce_close": au_bce(z_c, labels, pos_weight)}
    if v.pair_loss == "contrastive":
        same = torch.cat([torch.ones(len(f_a)), torch.zeros(len(f_a))]).to(f_a)
        terms["cl"] = contrastive_loss(torch.cat([f_a, f_o]), torch.cat([f_c, f_a]), same, margin)
        pair = terms["cl"]
    else:
        terms["tl"] = triplet_loss(f_a, f_c, f_o, margin)
        pair = terms["tl"]
    return {"total": terms["bce_apex"] + terms["bce_close"] + lam * pair, **terms}
