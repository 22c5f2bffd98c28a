"""Ruan et al. 2022, "Mimicking the Annotation Process for Recognizing the Micro Expressions".

Network (Fig. 1, Table 1)
-------------------------
The ``(B, 3, H, W)`` input (amplified frame + two optical flows, Sec. 3.1.1) is split at ``H // 2``
into the eyes (upper) and mouth (lower) images (Sec. 3.1.2, :func:`split_halves`). Both go through
one shared *base layer* (ResNet-18 stem + layer1-2) and then through their own *branch layer*
(separate copies of layer3-4), each pooled to a 512-d feature ``X_eyes`` / ``X_mouth``. Every ResNet
block carries a Shuffle Attention module (Sec. 3.3, SA-Net of Zhang & Yang 2021) whose channel and
spatial weights are learnt *per group* instead of shared by the groups. The Area Weighted Module
(Sec. 3.4, Eqs. 1-3) turns ``[X_eyes | X_mouth]`` into sigmoid weights (no softmax), giving the fused
feature ``X_F``; its halves ``X_eyes_w``, ``X_mouth_w`` feed two two-layer heads whose summed logits
are the prediction (Sec. 3.6). ``X_F`` is the feature WSCL aligns with the AU similarity (Sec. 3.5).
Without AWM, ``X_F = [X_eyes | X_mouth]``; in the single-branch model (one ResNet-18 on the whole
face, one head) ``X_F`` is the backbone output (Sec. 4.5, footnote 3).

Configurations: ``config="paper"`` vs ``config="official"``
---------------------------------------------------------
``"paper"`` builds what the paper prints. ``"official"`` (``MimicNet(official=True)``) adds what the
authors' code (GitHub ``Justin900429/mimicking-annotation-micro-expression-recognition``, HEAD
b0317b9) does differently inside the network:

1. Shuffle Attention gate: a softmax over the group axis instead of SA-Net's sigmoid
   (``model/resnet.py``, ``group_sa_layer``: ``nn.Softmax(dim=1)`` on ``(B, G, C/2G, ...)``).
2. Dropout(0.2) after layer1 and layer2 (``model/samer.py``, ``BaseLayer``) and after layer3
   (``BranchLayer``).
3. The pooled branch features are L2-normalised (``BranchLayer.forward``: ``F.normalize``).
4. AWM = Linear-LayerNorm-ReLU-Dropout(0.3)-Linear-LayerNorm-Sigmoid (``SAMER.area_weight``) and
   its input is detached (``SAMER.fusing``: ``self.area_weight(combine_features.detach())``), so
   the branches get no gradient through the weights.
5. The WSCL feature is ``dropout(normalize(X_F), p=0.1)`` (dropout in training only), while the
   heads read the un-normalised halves of ``X_F`` (``SAMER.fusing``).
6. Heads = Linear(512, 512)-LayerNorm-ReLU-Dropout(0.3)-Linear(512, C) (``SAMER.eyes``,
   ``SAMER.mouth``).

Shared by both configurations (the paper leaves them open, so the code's values are used): one
Shuffle Attention module in every BasicBlock, after ``bn2`` and before the residual add, with
G = 4 groups (``model/resnet.py``, ``BasicBlock`` and ``group_sa_layer(channel, groups=4)``); SA
parameters initialised as in SA-Net (weights 0, biases 1); head hidden size 512 (``SAMER.eyes``);
the paper's heads are Linear-ReLU-Linear. The authors build each branch from its own
``resnet18(pretrained)`` (``BranchLayer.__init__``), i.e. two identical ImageNet copies of layer3-4;
here the mouth branch is a deep copy of the eyes branch, which is the same with pretrained weights
and an identical random start with ``weights="none"``. The single-branch ablation ("sb", "ResNet18
in our experiments") keeps the Shuffle Attention modules, so that Table 4's sb/db rows differ in the
branches only (the authors' code has no sb model).

Variants (Table 4) come from :data:`VARIANTS` and :func:`build_model`; AU-CAM (Sec. 4.6.2, Eqs.
12-13) is :func:`au_cam`, and :func:`cam_target_layers` gives the layers a Grad-CAM library hooks.
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from melib.methods.spec import look_up
from melib.models.backbones import create_backbone

CONFIGS = ("paper", "official")
#: Values of the network switches of :class:`MimicNet` (``sa_gate``, ``dropout``, ``feature_norm``): "auto" follows
#: ``official``; the others set one piece of the official network on its own (data_scripts/diagnose_mimic_official.py).
SWITCHES = {"sa_gate": ("auto", "sigmoid", "softmax"), "dropout": ("auto", "on", "off"), "feature_norm": ("auto", "on", "off")}
FEATURE_DIM = 512         # ResNet-18 layer4 channels: X_eyes, X_mouth in R^512 (Sec. 3.4)
AWM_HIDDEN = 1024         # h in Eq. 1 (Sec. 4.3)
HEAD_HIDDEN = 512         # the paper gives none; the authors' SAMER.eyes/mouth use 512
SA_GROUPS = 4             # the paper gives none; the authors' group_sa_layer uses 4
OFFICIAL_BACKBONE_DROPOUT = 0.2
OFFICIAL_AWM_DROPOUT = 0.3
OFFICIAL_HEAD_DROPOUT = 0.3
OFFICIAL_FEATURE_DROPOUT = 0.1


def split_halves(x: Tensor) -> tuple[Tensor, Tensor]:
    """Sec. 3.1.2: the eyes image is the upper half (rows ``< H // 2``), the mouth image the rest."""
    if x.ndim != 4:
        raise ValueError(f"split_halves: expected a (B, C, H, W) tensor, got {tuple(x.shape)}")
    h = x.shape[2] // 2
    return x[:, :, :h], x[:, :, h:]


class ShuffleAttention(nn.Module):
    """Shuffle Attention (SA-Net, Zhang & Yang 2021) with per-group weights (Sec. 3.3).

    The ``C`` channels form ``G`` groups; each group splits into a channel half (global average pool,
    affine, gate) and a spatial half (GroupNorm, affine, gate); a channel shuffle mixes the halves.
    SA-Net shares the affine parameters between the groups; here each group has its own
    (``cweight``, ``cbias``, ``sweight``, ``sbias`` of shape ``(1, G, C/2G, 1, 1)``).

    Parameters
    ----------
    channels
        ``C``; must be divisible by ``2 * groups``.
    groups
        ``G``.
    gate
        ``"sigmoid"`` (SA-Net, the paper config) or ``"softmax"`` over the group axis (the authors'
        ``group_sa_layer``, the official config).
    """

    def __init__(self, channels: int, groups: int = SA_GROUPS, gate: str = "sigmoid"):
        super().__init__()
        if channels % (2 * groups):
            raise ValueError(f"ShuffleAttention: channels {channels} not divisible by 2 * groups = {2 * groups}")
        if gate not in ("sigmoid", "softmax"):
            raise ValueError(f"ShuffleAttention: gate must be 'sigmoid' or 'softmax', got {gate!r}")
        self.groups, self.gate = groups, gate
        half = channels // (2 * groups)
        shape = (1, groups, half, 1, 1)
        self.cweight = nn.Parameter(torch.zeros(shape))
        self.cbias = nn.Parameter(torch.ones(shape))
        self.sweight = nn.Parameter(torch.zeros(shape))
        self.sbias = nn.Parameter(torch.ones(shape))
        self.gn = nn.GroupNorm(half, half)

    def _gate(self, z: Tensor) -> Tensor:
        return torch.sigmoid(z) if self.gate == "sigmoid" else torch.softmax(z, dim=1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        g = self.groups
        x_c, x_s = x.reshape(b, g, c // g, h, w).chunk(2, dim=2)
        # channel attention: per-group affine of the pooled channel statistics
        z_c = self.cweight * x_c.mean(dim=(3, 4), keepdim=True) + self.cbias
        # spatial attention: per-group affine of the group-normalised map
        z_s = self.gn(x_s.reshape(b * g, -1, h, w)).reshape(x_s.shape)
        z_s = self.sweight * z_s + self.sbias
        out = torch.cat([x_c * self._gate(z_c), x_s * self._gate(z_s)], dim=2).reshape(b, c, h, w)
        # channel shuffle with 2 groups
        return out.reshape(b, 2, c // 2, h, w).transpose(1, 2).reshape(b, c, h, w)


class AreaWeightedModule(nn.Module):
    """AWM, Eqs. 1-3: ``X_weight = sigmoid(W2 f(W1 [X_eyes | X_mouth] + b1) + b2)``, ``X_F = [..] * X_weight``.

    No softmax over the weights (Sec. 3.4). ``official=True``: LayerNorm after both linear layers,
    Dropout(0.3) after the ReLU, and the input detached (the authors' ``SAMER.area_weight``/``fusing``).
    """

    def __init__(self, in_dim: int = 2 * FEATURE_DIM, hidden: int = AWM_HIDDEN, official: bool = False,
                 dropout: bool | None = None):
        super().__init__()
        self.official = official
        if official:
            drop = nn.Dropout(OFFICIAL_AWM_DROPOUT) if (official if dropout is None else dropout) else nn.Identity()
            self.mlp = nn.Sequential(
                nn.Linear(in_dim, hidden), nn.LayerNorm(hidden), nn.ReLU(),
                drop, nn.Linear(hidden, in_dim), nn.LayerNorm(in_dim))
        else:
            self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, in_dim))

    def forward(self, x_cat: Tensor) -> tuple[Tensor, Tensor]:
        """``[X_eyes | X_mouth]`` ``(B, 2D)`` -> (``X_F``, ``X_weight``), both ``(B, 2D)``."""
        x_weight = torch.sigmoid(self.mlp(x_cat.detach() if self.official else x_cat))  # Eq. 1
        return x_cat * x_weight, x_weight  # Eq. 2


def _head(n_classes: int, hidden: int, official: bool, dropout: bool | None = None) -> nn.Sequential:
    """Sec. 3.6 "double-layers fully-connected network" (the softmax lives in the loss)."""
    if official:
        drop = nn.Dropout(OFFICIAL_HEAD_DROPOUT) if (official if dropout is None else dropout) else nn.Identity()
        return nn.Sequential(nn.Linear(FEATURE_DIM, hidden), nn.LayerNorm(hidden), nn.ReLU(),
                             drop, nn.Linear(hidden, n_classes))
    return nn.Sequential(nn.Linear(FEATURE_DIM, hidden), nn.ReLU(), nn.Linear(hidden, n_classes))


def _pool(x: Tensor) -> Tensor:
    return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


class MimicNet(nn.Module):
    """The dual-branch network of Fig. 1, with the Table 4 switches.

    Parameters
    ----------
    n_classes
        Number of expression classes C (5 or 3).
    dual_branch
        ``True``: shared base + eyes/mouth branches ("db"); ``False``: one ResNet-18 on the whole
        face with one head ("sb").
    awm
        Area Weighted Module (Eqs. 1-3); needs ``dual_branch``.
    official
        The authors'-code configuration (module docstring, items 1-6).
    weights
        ``"none"`` | ``"imagenet"`` | path to a ResNet-18 state dict; see
        :func:`melib.models.backbones.create_backbone`. Shuffle Attention, AWM and heads always
        start from random init; :attr:`weights_description` says what was loaded.
    shuffle_attention
        Insert Shuffle Attention into every BasicBlock (Sec. 3.3).
    sa_groups, awm_hidden, head_hidden
        G of Shuffle Attention, h of Eq. 1, hidden width of the heads.
    sa_gate, dropout, feature_norm
        One piece of the official network each (:data:`SWITCHES`): the Shuffle Attention gate (item 1), every
        dropout module (items 2, 4, 6), the L2 normalisation of the pooled branch features (item 3); ``"auto"``
        follows ``official``. The state-dict layout is the same either way (a switched-off dropout is an Identity).
    """

    def __init__(self, n_classes: int, dual_branch: bool = True, awm: bool = True, official: bool = False,
                 weights: str | Path = "none", shuffle_attention: bool = True, sa_groups: int = SA_GROUPS,
                 awm_hidden: int = AWM_HIDDEN, head_hidden: int = HEAD_HIDDEN, sa_gate: str = "auto",
                 dropout: str = "auto", feature_norm: str = "auto"):
        super().__init__()
        for name, value in (("sa_gate", sa_gate), ("dropout", dropout), ("feature_norm", feature_norm)):
            if value not in SWITCHES[name]:
                raise ValueError(f"MimicNet: {name} must be one of {SWITCHES[name]}, got {value!r}")
        drops = official if dropout == "auto" else dropout == "on"
        self.feature_norm = official if feature_norm == "auto" else feature_norm == "on"
        if n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        if awm and not dual_branch:
            raise ValueError("AWM fuses the eyes and mouth features; it needs dual_branch=True")
        self.n_classes, self.dual_branch, self.awm_on, self.official = n_classes, dual_branch, awm, official
        self.shuffle_attention = shuffle_attention

        resnet, dim, description = create_backbone("resnet18", weights)
        if dim != FEATURE_DIM:
            raise RuntimeError(f"resnet18 gave {dim}-d features, expected {FEATURE_DIM}")
        if shuffle_attention:
            gate = ("softmax" if official else "sigmoid") if sa_gate == "auto" else sa_gate
            for layer in (resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4):
                for block in layer:
                    block.se = ShuffleAttention(block.bn2.num_features, sa_groups, gate)
            description += f"; Shuffle Attention (G={sa_groups}, {gate}) random init"
        def drop() -> nn.Module:  # official item 2
            return nn.Dropout(OFFICIAL_BACKBONE_DROPOUT) if drops else nn.Identity()

        self.base = nn.Sequential(OrderedDict([
            ("conv1", resnet.conv1), ("bn1", resnet.bn1), ("act1", resnet.act1), ("maxpool", resnet.maxpool),
            ("layer1", resnet.layer1), ("drop1", drop()), ("layer2", resnet.layer2), ("drop2", drop())]))
        branch = nn.Sequential(OrderedDict([("layer3", resnet.layer3), ("drop3", drop()),
                                            ("layer4", resnet.layer4)]))
        if dual_branch:
            self.eyes_branch = branch
            self.mouth_branch = copy.deepcopy(branch)
            self.awm = AreaWeightedModule(2 * FEATURE_DIM, awm_hidden, official, drops) if awm else None
            self.eyes_head = _head(n_classes, head_hidden, official, drops)
            self.mouth_head = _head(n_classes, head_hidden, official, drops)
            description += "; eyes and mouth branches = two copies of layer3-4"
        else:
            self.face_branch = branch
            self.head = _head(n_classes, head_hidden, official, drops)
        self.weights_description = description + "; AWM and heads random init"

    def _branch_feature(self, branch: nn.Module, x: Tensor) -> Tensor:
        feature = _pool(branch(self.base(x)))
        return F.normalize(feature, dim=1) if self.feature_norm else feature

    def _wscl_feature(self, x_f: Tensor) -> Tensor:
        if not self.official:
            return x_f
        return F.dropout(F.normalize(x_f, dim=1), OFFICIAL_FEATURE_DROPOUT, training=self.training)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Full ``(B, 3, H, W)`` image -> dict of outputs.

        Keys: ``logits`` ``(B, C)`` (sum of the heads, Sec. 3.6), ``features`` (the WSCL input: X_F,
        or its normalised, dropped-out form in the official config), ``x_f`` (X_F of Eq. 2 as is);
        dual-branch adds ``logits_eyes``, ``logits_mouth``; AWM adds ``feature_weights``
        (``X_weight`` of Eq. 1, ``(B, 1024)``) and ``area_weights`` ``(B, 2)`` (mean of ``X_weight``
        over the eyes half and over the mouth half; each in (0, 1), not summing to 1).
        """
        if x.ndim != 4:
            raise ValueError(f"MimicNet expects a (B, C, H, W) image, got {tuple(x.shape)}")
        out: dict[str, Tensor] = {}
        if not self.dual_branch:
            x_f = self._branch_feature(self.face_branch, x)
            out["logits"] = self.head(x_f)
        else:
            eyes, mouth = split_halves(x)
            x_cat = torch.cat([self._branch_feature(self.eyes_branch, eyes),
                               self._branch_feature(self.mouth_branch, mouth)], dim=1)
            if self.awm is not None:
                x_f, x_weight = self.awm(x_cat)
                out["feature_weights"] = x_weight
                out["area_weights"] = torch.stack(
                    [x_weight[:, :FEATURE_DIM].mean(1), x_weight[:, FEATURE_DIM:].mean(1)], dim=1)
            else:
                x_f = x_cat  # footnote 3: concatenated branch outputs
            x_eyes_w, x_mouth_w = x_f[:, :FEATURE_DIM], x_f[:, FEATURE_DIM:]  # Eq. 3
            out["logits_eyes"], out["logits_mouth"] = self.eyes_head(x_eyes_w), self.mouth_head(x_mouth_w)
            out["logits"] = out["logits_eyes"] + out["logits_mouth"]
        out["x_f"] = x_f
        out["features"] = self._wscl_feature(x_f)
        return out

    def head_logits(self, outputs: dict[str, Tensor]) -> list[Tensor]:
        """The per-head logits Eq. 7 sums over: ``[eyes, mouth]``, or ``[logits]`` for sb."""
        return [outputs["logits_eyes"], outputs["logits_mouth"]] if self.dual_branch else [outputs["logits"]]


@dataclass(frozen=True)
class Variant:
    """One row of Table 4. ``au`` (WSCL on) is loss-side, ``region_replacing`` data-side.

    Only "db + all w/o RR" is said to drop Region Replacing, so every other row keeps it.
    """

    name: str
    dual_branch: bool
    au: bool
    awm: bool
    region_replacing: bool
    paper_row: str


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("sb", False, False, False, True, "sb"),
    Variant("sb+au", False, True, False, True, "sb + AU"),
    Variant("db", True, False, False, True, "db"),
    Variant("db+au", True, True, False, True, "db + AU"),
    Variant("db+awm", True, False, True, True, "db + AWM"),
    Variant("db+all-rr", True, True, True, False, "db + all w/o RR"),
    Variant("db+all", True, True, True, True, "db + all"),
)}


def get_variant(variant: str | Variant) -> Variant:
    """Look up a Table 4 variant by name (or pass a :class:`Variant` through)."""
    return look_up(VARIANTS, variant, Variant, "mimic variant")


def build_model(variant: str | Variant, n_classes: int, config: str = "paper",
                weights: str | Path = "none", **switches: str) -> MimicNet:
    """The network of a Table 4 variant in the ``"paper"`` or ``"official"`` configuration; ``switches``: the
    network switches of :class:`MimicNet` (``sa_gate``, ``dropout``, ``feature_norm``)."""
    if config not in CONFIGS:
        raise ValueError(f"config must be one of {CONFIGS}, got {config!r}")
    v = get_variant(variant)
    return MimicNet(n_classes, dual_branch=v.dual_branch, awm=v.awm, official=config == "official",
                    weights=weights, **switches)


def cam_target_layers(model: MimicNet) -> list[nn.Module]:
    """Last block of layer4 in each branch (``[eyes, mouth]``, or ``[face]`` for sb), for CAM hooks.

    Its output is the branch's final feature map A_b of Eq. 13. (The authors' ``utils/au_cam.py``
    hooks the Shuffle Attention inside that block, before the residual add.) A Grad-CAM library
    resizes each layer's map to the whole input; for the dual branch each map covers one half only,
    so stack them as in Eq. 12 rather than averaging them.
    """
    if model.dual_branch:
        return [model.eyes_branch.layer4[-1], model.mouth_branch.layer4[-1]]
    return [model.face_branch.layer4[-1]]


@torch.no_grad()
def cam_grid_size(model: MimicNet, image_size: int) -> tuple[int, int]:
    """``(rows, columns)`` of the feature map A_b that a CAM reads (:func:`cam_target_layers`) for a
    square ``image_size`` input: in the dual branch each half's map, which covers half the face.

    A CAM can place attention no finer than these cells (bilinear upsampling only smooths them).
    Runs one forward pass of a zero image in eval mode (restoring the mode).
    """
    shapes: list[tuple[int, int]] = []
    hooks = [layer.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[-2:])))
             for layer in cam_target_layers(model)]
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(1, 3, image_size, image_size))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return shapes[0]


def _minmax(cam: Tensor) -> Tensor:
    flat = cam.flatten(1)
    low = flat.min(1).values.view(-1, 1, 1)
    span = (flat.max(1).values.view(-1, 1, 1) - low).clamp_min(1e-12)
    return (cam - low) / span


def au_cam(model: MimicNet, x: Tensor, per_branch: bool = False) -> Tensor:
    """AU-CAM, Eqs. 12-13: ``C_b = ReLU(sum_k alpha_b^k A_b^k)``, ``alpha_b^k`` from ``d max(X_b_w) / dA_b^k``.

    For each branch b the target is the largest entry of its half ``X_b_w`` of X_F (Eq. 3), not a
    class score, so no class is chosen. As in Grad-CAM, which Eq. 13 follows, ``alpha_b^k`` is the
    spatial mean of that gradient; A_b is the output of :func:`cam_target_layers`. ``C_eyes`` and
    ``C_mouth`` are bilinearly resized to their halves and stacked vertically (Eq. 12). The
    single-branch model gives one map from ``max(X_F)``. Runs in eval mode (restoring the mode).

    Differences from the authors' ``utils/au_cam.py``: they backpropagate from the L2-normalised
    X_F (same argmax, different gradient) and run both backward passes on one graph with hooks that
    keep the last gradient, so their eyes map ends up weighted by the mouth target's gradient (the
    normalisation couples the halves); here each branch gets the gradient of its own target.

    Parameters
    ----------
    model, x
        A :class:`MimicNet` and a ``(B, 3, H, W)`` input.
    per_branch
        ``False``: min-max normalise each sample's whole map to [0, 1]; ``True``: each half on its
        own (as the authors do).

    Returns
    -------
    ``(B, H, W)`` non-negative map in [0, 1] per sample (all zeros where ReLU leaves nothing).
    """
    layers = cam_target_layers(model)
    maps: list[Tensor] = []

    def keep(module: nn.Module, inputs: tuple[Tensor, ...], output: Tensor) -> Tensor:
        maps.append(output)
        return output.clone()  # later in-place ops must not alter the kept activation

    hooks = [layer.register_forward_hook(keep) for layer in layers]
    was_training = model.training
    model.eval()
    try:
        with torch.enable_grad():
            out = model(x.detach().clone().requires_grad_(True))
            x_f = out["x_f"]
            halves = x_f.split(FEATURE_DIM, dim=1) if model.dual_branch else (x_f,)
            cams = []
            for x_b_w, a_b in zip(halves, maps):
                target = x_b_w.max(dim=1).values.sum()  # samples are independent in eval mode
                (grad,) = torch.autograd.grad(target, a_b, retain_graph=True)
                alpha = grad.mean(dim=(2, 3), keepdim=True)
                cams.append(F.relu((alpha * a_b).sum(dim=1)).detach())
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    h, w = x.shape[2:]
    sizes = [h // 2, h - h // 2] if model.dual_branch else [h]
    cams = [F.interpolate(c[:, None], size=(s, w), mode="bilinear", align_corners=False)[:, 0].clamp_min(0)
            for c, s in zip(cams, sizes)]
    if per_branch:
        cams = [_minmax(c) for c in cams]
    return _minmax(torch.cat(cams, dim=1))
