"""Wei et al. 2026, "Micro-AU CLIP: Fine-Grained Contrastive Learning from Local Independence to Global
Dependency for Micro-Expression Action Unit Detection" (arXiv 2603.16302): the network.

Network (Fig. 2, Sec. III-A to III-C)
-------------------------------------
CLIP's ViT visual encoder turns the ``(B, 3, H0, W0)`` optical-flow image into an ``h x w`` grid of
patch tokens ``F_O^V``; **LSI** (Sec. III-B) picks, for each AU, the tokens under its Table I
landmarks (Eq. 1, :func:`pick_landmark_tokens`) and fuses them with **PTA** (Eqs. 2-3,
:class:`PatchTokenAttention`) into the local AU feature ``F~_n``; **GSD** (Sec. III-C, Eqs. 4-7,
:class:`GlobalDependencyAttention`) attends over the N AU features, turns the attention into the
dependency weights ``W_d``, adds the global feature ``F_G = W_d F~ W^V`` to every AU feature and
classifies each with its own 2-way head. CLIP's text encoder embeds one positive and one negative
description per AU (:data:`AU_DESCRIPTIONS`); the losses (Eqs. 8-12) are in :mod:`melib.losses`.
Emotion-label-free MER (Sec. III-E, Eq. 13) is :func:`label_free_emotion`.

Backbones: ``model_name`` and ``weights``
---------------------------------------
``model_name="ViT-B-32"`` is the paper's encoder pair (Sec. IV-A2); any open_clip ViT config works, e.g.
``"ViT-S-16"`` with ``image_size=112`` (a 7 x 7 grid, as ViT-B/32 at 224 px) as a CPU profile, and
``"tiny"`` (:data:`TINY_CLIP_CONFIG`: 4-block, 64-wide towers, 8-px patches at 56 px, again 7 x 7; builds
in < 0.1 s with random init) for tests. ``weights`` is ``"none"`` (random init), ``"openai"`` (open_clip's
download of OpenAI's CLIP weights; needs internet) or a path to a CLIP state dict (``.safetensors`` or a
``torch.save`` file read with ``weights_only=True``); :attr:`MicroAUCLIP.weights_description` says which.

Choices where the paper is open (each also noted where it is implemented)
--------------------------------------------------------------------------
- Table I is printed in dlib's 0-based numbering, so :data:`AU_LANDMARKS` is the table as printed (see there).
- Patch tokens are the last block's output after CLIP's ``ln_post`` and image projection ``proj`` (as
  MaskCLIP does for dense CLIP features), so ``d`` equals the text feature size, as Eq. 9 needs.
- Eq. 1: column ``floor(x w / W0)``, row ``floor(y h / H0)`` (the patch containing the landmark), clipped
  to the grid; the paper's ``x h / h0`` pairs x with h, which only differs for non-square inputs.
- PTA and the Eq. 7 classifier are separate small MLPs per AU (independent pipelines, Sec. III-B;
  per-AU tasks, Eq. 12); hidden widths ``d // 2``.
- GDA is single-head (``D_h = d``); Eq. 5's FC maps the flattened ``N x N`` attention to N scores
  (``gda_fc="flatten"``; ``"columns"`` scores AU j from the attention it receives).
- ``P_n[1]`` (logit index 1) is "AU n active".
- The text encoder sees the whole sentence; its features are not normalised here (the losses do it).
- ``train_blocks`` (default 3, Sec. IV-A2) unfreezes the last blocks of each tower together with what
  follows them (visual ``ln_post``/``proj``, text ``ln_final``/``text_projection``); ``0`` freezes a tower.
- OpenAI's CLIP uses QuickGELU; ``quick_gelu=True`` (default) builds that activation for every config.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from open_clip.transformer import VisionTransformer
from torch import Tensor, nn

from melib.methods.micro_au_clip.label_free import (  # noqa: F401 (re-exported)
    EMFACS_PROTOTYPES,
    EMFACS_TO_THREE_CLASS,
    LABEL_TABLES,
    OBJECTIVE_TO_THREE_CLASS,
    emotion_label_combos,
    emotion_scores,
    label_free_emotion,
    label_table_rules,
    label_text_features,
)
from melib.models.backbones import report_weights

#: Table I, dlib 68-point indices. The table is already 0-based (dlib's numbering): 48 and 54 are
#: dlib's 0-based mouth corners (1-based they would be a left-eye point and the upper lip), 19-24 is
#: mirror-symmetric only 0-based (inner halves of both brows), and 7, 8, 9 centre on dlib's 0-based chin
#: tip 8. AU7's 38, 41, 44, 47 (upper-inner/lower-outer right lid, upper-outer/lower-inner left lid) are
#: not mirror pairs in either numbering; they are kept as printed.
AU_LANDMARKS: dict[int, tuple[int, ...]] = {
    1: (19, 20, 21, 22, 23, 24),
    2: (19, 20, 21, 22, 23, 24),
    4: (19, 20, 21, 22, 23, 24),
    7: (38, 41, 44, 47),
    12: (48, 54),
    14: (55, 59, 60, 64),
    15: (48, 54),
    17: (7, 8, 9, 57),
}

#: (positive, negative) description per AU (Sec. III-A). Only AU4's pair is printed in the paper; the
#: others follow its "The <part> are <moving>" / "... are not <moving>" pattern with FACS names (AU17
#: uses the paper's "Chin Lifting Upward", Sec. IV-D). Covers CASME II's 8 AUs and SAMM's 4 (2, 4, 7, 12).
AU_DESCRIPTIONS: dict[int, tuple[str, str]] = {
    1: ("The inner eyebrows are raising", "The inner eyebrows are not raising"),
    2: ("The outer eyebrows are raising", "The outer eyebrows are not raising"),
    4: ("The eyebrows are lowering", "The eyebrows are not lowering"),
    7: ("The eyelids are tightening", "The eyelids are not tightening"),
    12: ("The lip corners are pulling up", "The lip corners are not pulling up"),
    14: ("The cheeks are dimpling", "The cheeks are not dimpling"),
    15: ("The lip corners are pulling down", "The lip corners are not pulling down"),
    17: ("The chin is lifting upward", "The chin is not lifting upward"),
}

PAPER_MODEL = "ViT-B-32"
PAPER_TRAIN_BLOCKS = 3                          # "fine-tune the last three layers" (Sec. IV-A2)
PAPER_LR = {"encoders": 1e-3, "heads": 1e-2}    # SGD learning rates (Sec. IV-A2)
#: melib's test configuration (not in open_clip): 7 x 7 grid at 56 px, like ViT-B/32 at 224 px.
TINY_CLIP_CONFIG: dict = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 56, "layers": 4, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 4},
}
#: ``"tiny-77"``: the tiny towers with CLIP's 77-token text context, for global OrigCL's whole-face
#: sentences (about 70 tokens). Under CLIP's causal text mask a description's end-of-text feature never
#: sees the positions after it, so for the per-AU descriptions (under 16 tokens) it is the tiny CLIP again.
TINY_LONG_CONTEXT = 77
TINY_MODELS = ("tiny", "tiny-77")
POOLINGS = ("pta", "mean", "max")    # Table VI
GDA_FCS = ("flatten", "columns")
FUSIONS = ("gda", "add_mlp", "cat_mlp")   # Table VII
WEIGHTS_HELP = "weights must be 'none', 'openai' or a path to a CLIP state-dict file"


# ---------------------------------------------------------------------------------------------------
# Backbones (Sec. III-A)
# ---------------------------------------------------------------------------------------------------

def create_clip(model_name: str = PAPER_MODEL, weights: str | Path = "none", *, image_size: int | None = None,
                quick_gelu: bool = True, strict: bool = True) -> tuple[nn.Module, str]:
    """Build an open_clip CLIP model; return ``(clip, description)``. See the module docstring."""
    weights_str = str(weights)
    cfg_name = model_name if model_name in TINY_MODELS else model_name.replace("/", "-")
    if cfg_name in TINY_MODELS:
        cfg = {k: (dict(v) if isinstance(v, dict) else v) for k, v in TINY_CLIP_CONFIG.items()}
        if cfg_name == "tiny-77":
            cfg["text_cfg"]["context_length"] = TINY_LONG_CONTEXT
        if image_size is not None:
            cfg["vision_cfg"]["image_size"] = image_size
        build = lambda: open_clip.CLIP(**cfg, quick_gelu=quick_gelu)  # noqa: E731
    elif open_clip.get_model_config(cfg_name) is not None:
        build = lambda pretrained=None: open_clip.create_model(  # noqa: E731
            cfg_name, pretrained=pretrained, force_quick_gelu=quick_gelu, force_image_size=image_size)
    else:
        raise ValueError(f"unknown model_name {model_name!r}: 'tiny', 'tiny-77' or an open_clip config "
                         f"(e.g. 'ViT-B-32', 'ViT-S-16'; open_clip.list_models())")
    act = "QuickGELU" if quick_gelu else "GELU"
    if weights_str == "none":
        clip, description = build(), f"{cfg_name} ({act}): random init (no pretrained weights)"
    elif weights_str == "openai":
        if cfg_name in TINY_MODELS:
            raise ValueError(f"model_name={cfg_name!r} has no pretrained weights; use weights='none'")
        try:
            clip = build("openai")
        except Exception as exc:  # offline: huggingface_hub retries ~50 s, then open_clip raises
            raise RuntimeError(
                f"could not load OpenAI CLIP weights for {cfg_name!r} ({type(exc).__name__}: {exc}). "
                "weights='openai' needs internet (or open_clip's cache); offline use weights='none' or "
                "weights='<path>' to a state dict saved from open_clip.create_model(..., pretrained="
                "'openai').state_dict() on a machine with internet") from exc
        description = f"{cfg_name} ({act}): OpenAI CLIP weights via open_clip"
    else:
        path = Path(weights_str)
        if not path.is_file():
            raise FileNotFoundError(f"CLIP weights file not found: {path} ({WEIGHTS_HELP})")
        clip = build()
        loaded = load_clip_file(clip, path, strict, cfg_name)
        description = f"{cfg_name} ({act}): CLIP weights from file {path} ({loaded})"
    if not isinstance(clip.visual, VisionTransformer):
        raise ValueError(f"{cfg_name!r} has a {type(clip.visual).__name__} image tower; Micro-AU CLIP "
                         "needs a ViT patch-token grid (open_clip VisionTransformer)")
    return clip, description


def load_clip_file(clip: nn.Module, path: Path, strict: bool = True, name: str = "CLIP") -> str:
    """Load a CLIP state-dict file into ``clip``; return what was loaded, raise naming the file and keys.

    Reads ``.safetensors`` or a ``torch.save`` file (``weights_only=True``), raw, under ``"state_dict"`` /
    ``"model"`` or with ``module.`` prefixes (:func:`melib.models.backbones.read_state_dict`), then applies
    open_clip's own conversions (``open_clip.load_checkpoint``): third-party layouts, ``logit_scale``'s
    shape and interpolated positional embeddings when the image size or text context differ (named in
    the result). ``strict``: every CLIP tensor must come from the file and every file tensor be used.
    """
    from open_clip.factory import convert_state_dict, convert_to_custom_text_state_dict
    from open_clip.model import resize_pos_embed, resize_text_pos_embed

    from melib.models.backbones import load_matched, read_state_dict

    state = read_state_dict(path)
    state = convert_state_dict(clip, state)
    if "positional_embedding" in state and not hasattr(clip, "positional_embedding"):
        state = convert_to_custom_text_state_dict(state)
    own = clip.state_dict()
    if "logit_scale" in state and state["logit_scale"].ndim != own["logit_scale"].ndim:
        state["logit_scale"] = state["logit_scale"].reshape(own["logit_scale"].shape)
    resized = [k for k in ("visual.positional_embedding", "positional_embedding")
               if k in state and k in own and state[k].shape != own[k].shape]
    resize_pos_embed(state, clip)
    resize_text_pos_embed(state, clip)
    n, partial, summary = load_matched(clip, state, strict, f"cannot load {path} into {name!r}",
                                       "The file must be a CLIP state dict of the same architecture "
                                       "(open_clip.create_model(name).state_dict()); strict=False loads the part "
                                       "that fits")
    note = f"; positional embeddings {resized} interpolated to this size" if resized else ""
    if partial:
        return f"PARTIAL: {summary}; the rest random init{note}"
    return f"all {n} tensors loaded{note}"


def _text_parts(clip: nn.Module) -> tuple[nn.ModuleList, list[nn.Module | nn.Parameter]]:
    """The text tower's blocks and what follows them (open_clip CLIP or CustomTextCLIP)."""
    text = getattr(clip, "text", clip)
    tail = [p for p in (getattr(text, "ln_final", None), getattr(text, "text_projection", None)) if p is not None]
    return text.transformer.resblocks, tail


def freeze_clip(clip: nn.Module, train_blocks: int, text_train_blocks: int) -> None:
    """Freeze CLIP except the last ``train_blocks`` visual / ``text_train_blocks`` text blocks (Sec. IV-A2).

    A tower with blocks to train also trains what follows its blocks (visual ``ln_post`` and ``proj``,
    text ``ln_final`` and ``text_projection``); ``logit_scale`` stays frozen (MiAUCL has a fixed temperature).
    """
    visual_blocks = clip.visual.transformer.resblocks
    text_blocks, text_tail = _text_parts(clip)
    for n, blocks in ((train_blocks, visual_blocks), (text_train_blocks, text_blocks)):
        if not 0 <= n <= len(blocks):
            raise ValueError(f"train_blocks must be in [0, {len(blocks)}], got {n}")
    for p in clip.parameters():
        p.requires_grad_(False)
    for n, blocks, tail in ((train_blocks, visual_blocks, [clip.visual.ln_post, clip.visual.proj]),
                            (text_train_blocks, text_blocks, text_tail)):
        if n == 0:
            continue
        for part in [*blocks[len(blocks) - n:], *tail]:
            for p in ([part] if isinstance(part, nn.Parameter) else part.parameters()):
                p.requires_grad_(True)


# ---------------------------------------------------------------------------------------------------
# LSI (Sec. III-B): Eq. 1 token picking and PTA (Eqs. 2-3)
# ---------------------------------------------------------------------------------------------------

def au_landmark_index(aus: Sequence[int]) -> tuple[Tensor, Tensor]:
    """Table I as a padded ``(N, L_max)`` long index and its ``(N, L_max)`` bool mask (True = real point)."""
    unknown = [a for a in aus if a not in AU_LANDMARKS]
    if unknown:
        raise ValueError(f"no Table I landmarks for AU {unknown}; known: {sorted(AU_LANDMARKS)}")
    width = max(len(AU_LANDMARKS[a]) for a in aus)
    index = torch.zeros(len(aus), width, dtype=torch.long)
    mask = torch.zeros(len(aus), width, dtype=torch.bool)
    for n, au in enumerate(aus):
        points = AU_LANDMARKS[au]
        index[n, :len(points)] = torch.tensor(points)
        index[n, len(points):] = points[0]  # padding repeats a real point; the mask hides it
        mask[n, :len(points)] = True
    return index, mask


def landmark_token_index(landmarks: Tensor, image_size: tuple[int, int], grid_size: tuple[int, int],
                         rounding: str = "floor") -> Tensor:
    """Eq. 1: flat token index ``row * w + col`` of each ``(x, y)`` landmark (pixels of an ``H0 x W0`` image).

    ``col = floor(x w / W0)``, ``row = floor(y h / H0)``: the patch that contains the landmark
    (``rounding="round"``: nearest integer, a literal reading of Eq. 1); clipped to the grid, so a
    landmark outside the image (dlib places some) takes the border token. Tokens are numbered
    row-major, as open_clip flattens its patch grid.
    """
    if landmarks.shape[-1] != 2:
        raise ValueError(f"landmarks must end in (x, y), got shape {tuple(landmarks.shape)}")
    if rounding not in ("floor", "round"):
        raise ValueError(f"rounding must be 'floor' or 'round', got {rounding!r}")
    (h0, w0), (h, w) = image_size, grid_size
    to_int = torch.floor if rounding == "floor" else torch.round
    col = to_int(landmarks[..., 0].double() * w / w0).long().clamp(0, w - 1)
    row = to_int(landmarks[..., 1].double() * h / h0).long().clamp(0, h - 1)
    return row * w + col


def pick_landmark_tokens(tokens: Tensor, landmarks: Tensor, index: Tensor, image_size: tuple[int, int],
                         grid_size: tuple[int, int], rounding: str = "floor") -> tuple[Tensor, Tensor]:
    """Eq. 1 for every AU: ``(B, h*w, d)`` tokens, ``(B, 68, 2)`` landmarks, ``(N, L)`` Table I index ->
    the tokens ``K_{n,j}^V`` ``(B, N, L, d)`` and their flat token indices ``(B, N, L)``."""
    if tokens.ndim != 3 or tokens.shape[1] != grid_size[0] * grid_size[1]:
        raise ValueError(f"tokens must be (B, {grid_size[0] * grid_size[1]}, d), got {tuple(tokens.shape)}")
    if landmarks.ndim != 3 or landmarks.shape[0] != tokens.shape[0]:
        raise ValueError(f"landmarks must be (B, 68, 2) for B={tokens.shape[0]}, got {tuple(landmarks.shape)}")
    token_idx = landmark_token_index(landmarks[:, index.to(landmarks.device)], image_size, grid_size, rounding)
    batch = torch.arange(tokens.shape[0], device=tokens.device)[:, None, None]
    return tokens[batch, token_idx.to(tokens.device)], token_idx


class PerAUMLP(nn.Module):
    """N independent two-layer MLPs ``Linear-ReLU-Linear``, applied to ``(B, N, ..., d_in)`` at once."""

    def __init__(self, n: int, d_in: int, hidden: int, d_out: int):
        super().__init__()
        self.w1 = nn.Parameter(torch.empty(n, d_in, hidden))
        self.b1 = nn.Parameter(torch.empty(n, hidden))
        self.w2 = nn.Parameter(torch.empty(n, hidden, d_out))
        self.b2 = nn.Parameter(torch.empty(n, d_out))
        for w, b, fan_in in ((self.w1, self.b1, d_in), (self.w2, self.b2, hidden)):  # nn.Linear's init
            bound = 1 / math.sqrt(fan_in)
            nn.init.uniform_(w, -bound, bound)
            nn.init.uniform_(b, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        extra = (None,) * (x.ndim - 3)  # broadcast the biases over the dims between N and d
        hid = F.relu(torch.einsum("bn...i,nih->bn...h", x, self.w1) + self.b1[(slice(None), *extra)])
        return torch.einsum("bn...h,nho->bn...o", hid, self.w2) + self.b2[(slice(None), *extra)]


class PatchTokenAttention(nn.Module):
    """PTA, Eqs. 2-3: ``W_j^n = softmax_j MLP_n(K_{n,j})``, ``F~_n = sum_j W_j^n K_{n,j}`` (per-AU MLPs).

    ``pooling="mean"`` / ``"max"`` are the Table VI alternatives (weights then uniform / ``None``).
    """

    def __init__(self, n_aus: int, dim: int, hidden: int | None = None, pooling: str = "pta"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.pooling = pooling
        self.mlp = PerAUMLP(n_aus, dim, hidden or dim // 2, 1) if pooling == "pta" else None

    def forward(self, tokens: Tensor, mask: Tensor) -> tuple[Tensor, Tensor | None]:
        """``(B, N, L, d)`` tokens, ``(N, L)`` mask -> ``F~`` ``(B, N, d)`` and weights ``(B, N, L)`` (0 at padding)."""
        mask = mask.to(tokens.device)
        if self.pooling == "max":
            return tokens.masked_fill(~mask[..., None], float("-inf")).amax(dim=2), None
        if self.pooling == "mean":
            weights = (mask / mask.sum(1, keepdim=True)).to(tokens.dtype).expand(tokens.shape[:3])
        else:
            scores = self.mlp(tokens).squeeze(-1).masked_fill(~mask, float("-inf"))  # MLP(K_{n,j})
            weights = torch.softmax(scores, dim=2)                                    # Eq. 2
        return torch.einsum("bnl,bnld->bnd", weights, tokens), weights               # Eq. 3


# ---------------------------------------------------------------------------------------------------
# GSD (Sec. III-C): GDA, Eqs. 4-7
# ---------------------------------------------------------------------------------------------------

class GlobalDependencyAttention(nn.Module):
    """GDA, Eqs. 4-7, with the per-AU 2-way heads.

    ``A = softmax(Q K^T / sqrt(d))`` with ``Q = F~ W^Q``, ``K = F~ W^K`` (Eq. 4, one head, ``D_h = d``);
    ``W_d = softmax(ReLU(FC(A)))`` over the N AUs (Eq. 5); ``F_G = W_d F~ W^V`` (Eq. 6);
    ``P_n = softmax(MLP_n(F_G + F~_n))`` (Eq. 7; logits returned, the softmax lives in the loss).
    ``fc="flatten"``: FC on the flattened ``N x N`` A; ``"columns"``: one shared FC on each column of A.
    """

    def __init__(self, n_aus: int, dim: int, head_hidden: int | None = None, fc: str = "flatten"):
        super().__init__()
        if fc not in GDA_FCS:
            raise ValueError(f"gda_fc must be one of {GDA_FCS}, got {fc!r}")
        self.fc_mode, self.scale = fc, dim ** -0.5
        self.w_q = nn.Linear(dim, dim, bias=False)
        self.w_k = nn.Linear(dim, dim, bias=False)
        self.w_v = nn.Linear(dim, dim, bias=False)
        self.fc = nn.Linear(n_aus * n_aus, n_aus) if fc == "flatten" else nn.Linear(n_aus, 1)
        self.heads = PerAUMLP(n_aus, dim, head_hidden or dim // 2, 2)

    def forward(self, local: Tensor) -> dict[str, Tensor]:
        """``F~`` ``(B, N, d)`` -> ``attention`` (B, N, N), ``dependency_weights`` (B, N), ``global_feature``
        (B, d), ``au_features`` ``F_G + F~_n`` (B, N, d) and ``logits`` (B, N, 2)."""
        attn = torch.softmax(self.w_q(local) @ self.w_k(local).transpose(1, 2) * self.scale, dim=-1)  # Eq. 4
        z = self.fc(attn.flatten(1)) if self.fc_mode == "flatten" else self.fc(attn.transpose(1, 2)).squeeze(-1)
        w_d = torch.softmax(F.relu(z), dim=-1)                                  # Eq. 5
        f_g = torch.einsum("bn,bnd->bd", w_d, self.w_v(local))                  # Eq. 6
        final = local + f_g[:, None]                                            # Eq. 7 input
        return {"attention": attn, "dependency_weights": w_d, "global_feature": f_g,
                "au_features": final, "logits": self.heads(final)}


class MLPFusion(nn.Module):
    """Table VII's alternatives to GDA: ``F_G = MLP(sum_n F~_n)`` (``"add_mlp"``) or ``MLP([F~_1; ...; F~_N])``
    (``"cat_mlp"``), then Eq. 7 as in GDA (``P_n = softmax(MLP_n(F_G + F~_n))``). The paper gives no
    detail: here the MLP is ``Linear-ReLU-Linear`` with hidden width ``d``; there are no dependency
    weights, so no GD loss applies."""

    def __init__(self, n_aus: int, dim: int, mode: str = "add_mlp", head_hidden: int | None = None):
        super().__init__()
        if mode not in ("add_mlp", "cat_mlp"):
            raise ValueError(f"MLPFusion mode must be 'add_mlp' or 'cat_mlp', got {mode!r}")
        self.mode = mode
        d_in = dim * n_aus if mode == "cat_mlp" else dim
        self.mlp = nn.Sequential(nn.Linear(d_in, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.heads = PerAUMLP(n_aus, dim, head_hidden or dim // 2, 2)

    def forward(self, local: Tensor) -> dict[str, Tensor]:
        """``F~`` ``(B, N, d)`` -> ``global_feature`` (B, d), ``au_features`` (B, N, d), ``logits`` (B, N, 2)."""
        f_g = self.mlp(local.flatten(1) if self.mode == "cat_mlp" else local.sum(1))
        final = local + f_g[:, None]
        return {"global_feature": f_g, "au_features": final, "logits": self.heads(final)}


# ---------------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------------

class MicroAUCLIP(nn.Module):
    """Micro-AU CLIP (Fig. 2): CLIP towers, LSI (Eqs. 1-3), GSD (Eqs. 4-7) and the AU descriptions.

    Parameters
    ----------
    aus
        Detected AUs, e.g. CASME II's ``(1, 2, 4, 7, 12, 14, 15, 17)`` or SAMM's ``(2, 4, 7, 12)``.
    model_name, weights, image_size, quick_gelu, strict
        Backbone, see :func:`create_clip` and the module docstring.
    train_blocks, text_train_blocks
        Blocks fine-tuned at the end of the visual / text tower (paper 3, Sec. IV-A2);
        ``text_train_blocks=None`` follows ``train_blocks``; 0 = frozen (Table III "fixed").
    pooling
        ``"pta"`` (Eqs. 2-3) or the Table VI ablations ``"mean"`` / ``"max"``.
    use_gsd
        ``False``: no GDA (Table II "LSI only", Table X "w/o GDA"); each AU is classified from ``F~_n``
        and there are no dependency weights (the GD loss does not apply).
    use_lsi
        ``False``: Table II "GSD only". The paper does not say what replaces LSI; here each AU's
        ``F~_n`` is its own MLP (``PerAUMLP``) of CLIP's pooled image feature, so GSD still sees N AU
        features, none tied to landmarks.
    fusion
        GSD's fusion: ``"gda"`` (Eqs. 4-6) or Table VII's ``"add_mlp"`` / ``"cat_mlp"`` (:class:`MLPFusion`).
    gda_fc, pta_hidden, head_hidden, rounding
        See :class:`GlobalDependencyAttention`, :class:`PatchTokenAttention`, :func:`landmark_token_index`.
    verbose
        Print which weights were loaded (:func:`melib.models.backbones.report_weights`).
    """

    def __init__(self, aus: Sequence[int], model_name: str = PAPER_MODEL, weights: str | Path = "none", *,
                 image_size: int | None = None, train_blocks: int = PAPER_TRAIN_BLOCKS,
                 text_train_blocks: int | None = None, pooling: str = "pta", use_gsd: bool = True,
                 use_lsi: bool = True, fusion: str = "gda", gda_fc: str = "flatten", pta_hidden: int | None = None, head_hidden: int | None = None,
                 rounding: str = "floor", quick_gelu: bool = True, strict: bool = True, verbose: bool = True):
        super().__init__()
        self.aus = tuple(int(a) for a in aus)
        if not self.aus or len(set(self.aus)) != len(self.aus):
            raise ValueError(f"aus must be a non-empty list of distinct AUs, got {aus}")
        missing = [a for a in self.aus if a not in AU_DESCRIPTIONS]
        if missing:
            raise ValueError(f"no description for AU {missing}; known: {sorted(AU_DESCRIPTIONS)}")
        self.clip, description = create_clip(model_name, weights, image_size=image_size,
                                             quick_gelu=quick_gelu, strict=strict)
        text_train_blocks = train_blocks if text_train_blocks is None else text_train_blocks
        freeze_clip(self.clip, train_blocks, text_train_blocks)
        self.weights_description = (f"{description}; last {train_blocks} visual / {text_train_blocks} text "
                                    "blocks trainable; PTA, GDA and heads random init")
        self.image_size = tuple(self.clip.visual.image_size)
        self.grid_size = tuple(self.clip.visual.grid_size)
        self.dim = int(self.clip.visual.output_dim)
        self.rounding = rounding
        index, mask = au_landmark_index(self.aus)
        self.register_buffer("landmark_index", index, persistent=False)
        self.register_buffer("landmark_mask", mask, persistent=False)

        tokenizer = open_clip.get_tokenizer(PAPER_MODEL, context_length=self.clip.context_length)
        self.descriptions = [AU_DESCRIPTIONS[a][0] for a in self.aus] + [AU_DESCRIPTIONS[a][1] for a in self.aus]
        self.register_buffer("description_tokens", tokenizer(self.descriptions), persistent=False)
        self.tokenizer = tokenizer
        self._text_cache: tuple[Tensor, Tensor] | None = None
        self._global_text_cache: dict[str, Tensor] = {}

        n = len(self.aus)
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if not (use_lsi or use_gsd):
            raise ValueError("at least one of use_lsi and use_gsd must be True (Table II has no row without both)")
        self.use_lsi, self.use_gsd, self.fusion = use_lsi, use_gsd, fusion
        if use_lsi:
            self.pta = PatchTokenAttention(n, self.dim, pta_hidden, pooling)
        else:
            self.global_to_au = PerAUMLP(n, self.dim, self.dim, self.dim)
        if use_gsd:
            self.gda = (GlobalDependencyAttention(n, self.dim, head_hidden, gda_fc) if fusion == "gda"
                        else MLPFusion(n, self.dim, fusion, head_hidden))
        else:
            self.heads = PerAUMLP(n, self.dim, head_hidden or self.dim // 2, 2)
        if verbose:
            report_weights(self)

    # ----- encoders -------------------------------------------------------------------------------
    def encode_image(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``(F_O^V, g)``: the last block's patch tokens after ``ln_post`` and ``proj``, ``(B, h*w, d)``
        row-major, and CLIP's pooled image feature ``(B, d)``, from one pass of the visual tower."""
        if images.ndim != 4 or tuple(images.shape[2:]) != self.image_size:
            raise ValueError(f"expected (B, 3, {self.image_size[0]}, {self.image_size[1]}) images, got "
                             f"{tuple(images.shape)} (the image size is fixed at construction: image_size=)")
        visual = self.clip.visual
        out = visual.forward_intermediates(images, indices=1, normalize_intermediates=True,
                                           intermediates_only=False, output_fmt="NLC")
        tokens = out["image_intermediates"][-1]  # (B, h*w, width), ln_post applied, class token removed
        return (tokens @ visual.proj if visual.proj is not None else tokens), out["image_features"]

    def patch_tokens(self, images: Tensor) -> Tensor:
        """``F_O^V``: the last block's patch tokens after ``ln_post`` and ``proj``, ``(B, h*w, d)`` row-major."""
        return self.encode_image(images)[0]

    def encode_texts(self, texts: Sequence[str] | Tensor) -> Tensor:
        """Text features ``(T, d)`` of sentences (or of already tokenised ``(T, context)`` ids), not normalised."""
        tokens = texts if torch.is_tensor(texts) else self.tokenizer(list(texts))
        return self.clip.encode_text(tokens.to(self.description_tokens.device))

    def _text_frozen(self) -> bool:
        blocks, tail = _text_parts(self.clip)
        params = [*blocks.parameters(), *(p for t in tail for p in ([t] if isinstance(t, nn.Parameter)
                                                                    else t.parameters()))]
        return not any(p.requires_grad for p in params)

    def text_features(self) -> tuple[Tensor, Tensor]:
        """``(F^T_pos, F^T_neg)``, each ``(N, d)``: features of every AU's positive / negative description.

        Recomputed on every call while any text block trains; cached (computed without grad) when the
        text tower is frozen. :meth:`clear_text_cache` (also run by ``load_state_dict``) drops the cache.
        """
        n = len(self.aus)
        if not self._text_frozen():
            feats = self.encode_texts(self.description_tokens)
            return feats[:n], feats[n:]
        if self._text_cache is None or self._text_cache[0].device != self.description_tokens.device:
            with torch.no_grad():
                feats = self.encode_texts(self.description_tokens)
            self._text_cache = (feats[:n], feats[n:])
        return self._text_cache

    @torch.no_grad()
    def text_similarity(self) -> Tensor:
        """Table III's TextSi per AU ``(N,)``: cosine similarity of the positive and the negative
        description's text features (the paper: close to 1 with a fixed text tower, -1 fine-tuned)."""
        text_pos, text_neg = self.text_features()
        return F.cosine_similarity(text_pos.float(), text_neg.float(), dim=-1)

    def global_descriptions(self, labels: Tensor) -> list[str]:
        """One sentence per sample describing every AU's state (Table VIII "global OrigCL": "the overall
        description of all AU"; the paper prints none): the AU descriptions joined with ", " in AU order,
        e.g. "The inner eyebrows are raising, the outer eyebrows are not raising, ..."."""
        y = (labels > 0.5).cpu().tolist()
        sentences = []
        for row in y:
            parts = [AU_DESCRIPTIONS[a][0 if on else 1] for a, on in zip(self.aus, row)]
            sentences.append(", ".join([parts[0]] + [p[0].lower() + p[1:] for p in parts[1:]]))
        return sentences

    def global_text_features(self, labels: Tensor) -> Tensor:
        """``(B, d)`` text features of :meth:`global_descriptions` (cached per AU state while the text
        tower is frozen; recomputed with gradients while it trains)."""
        sentences = self.global_descriptions(labels)
        tokens = self.tokenizer(sentences)
        if (tokens[:, -1] != 0).any():  # the end-of-text token was cut off: later AUs' states are lost
            raise ValueError(f"global OrigCL: a whole-face description needs more than the text tower's context "
                             f"of {tokens.shape[1]} tokens (e.g. {sentences[0]!r}); use a CLIP with a longer context "
                             "(ViT-S-16, ViT-B-32: 77) for miaucl='global'")
        if not self._text_frozen():
            return self.encode_texts(tokens)
        missing = sorted({s for s in sentences if s not in self._global_text_cache})
        if missing:
            with torch.no_grad():
                feats = self.encode_texts(missing)
            self._global_text_cache.update(zip(missing, feats))
        return torch.stack([self._global_text_cache[s] for s in sentences])

    def clear_text_cache(self) -> None:
        self._text_cache = None
        self._global_text_cache = {}

    def load_state_dict(self, *args, **kwargs):  # noqa: D102 - new text weights invalidate the cache
        self.clear_text_cache()
        return super().load_state_dict(*args, **kwargs)

    @staticmethod
    def text_for_labels(text_pos: Tensor, text_neg: Tensor, labels: Tensor) -> Tensor:
        """``F^T_{n,b}``: each sample's own description per AU, ``(B, N, d)`` from ``(N, d)`` pairs and 0/1 labels."""
        return torch.where((labels > 0.5)[..., None].to(text_pos.device), text_pos, text_neg)

    # ----- forward --------------------------------------------------------------------------------
    def forward(self, images: Tensor, landmarks: Tensor, labels: Tensor | None = None,
                landmark_size: tuple[int, int] | None = None, with_text: bool = True) -> dict[str, Tensor]:
        """Images ``(B, 3, H0, W0)`` and dlib landmarks ``(B, 68, 2)`` as (x, y) pixels -> dict.

        ``landmark_size``: (height, width) of the frame the landmarks are in pixels of, when it is
        not the input image (Eq. 1's h0, w0); default the input size. Keys:

        - ``logits`` (B, N, 2) (index 1 = active), ``probs`` (B, N) = softmax(logits)[..., 1] (Eq. 7)
        - ``au_features`` (B, N, d): ``F_G + F~_n`` ("the final AU visual feature", Eq. 7), the
          visual input of MiAUCL and of Eq. 13; ``local_features`` (B, N, d): ``F~_n`` (Eq. 3)
        - ``token_weights`` (B, N, L): PTA's ``W_j^n`` (0 at padding; uniform for mean pooling; absent
          for max pooling); ``token_index`` (B, N, L): the flat patch index of each landmark (Eq. 1;
          padding repeats the AU's first landmark)
        - ``image_feature`` (B, d): CLIP's pooled image feature (used without LSI)
        - with GSD: ``global_feature`` (B, d) ``F_G`` (Eq. 6); with GDA also ``dependency_weights``
          (B, N) ``W_d`` (Eq. 5) and ``attention`` (B, N, N) (Eq. 4)
        - ``with_text``: ``text_pos``, ``text_neg`` (N, d); with ``labels`` (B, N) also ``text_features``
          (B, N, d), each sample's own description per AU (MiAUCL's F^T)
        """
        if landmarks.ndim != 3 or landmarks.shape[1:] != (68, 2) or landmarks.shape[0] != images.shape[0]:
            raise ValueError(f"landmarks must be (B, 68, 2) with B={images.shape[0]}, got {tuple(landmarks.shape)}")
        tokens, pooled = self.encode_image(images)
        picked, token_index = pick_landmark_tokens(
            tokens, landmarks, self.landmark_index, landmark_size or self.image_size, self.grid_size, self.rounding)
        out: dict[str, Tensor] = {"token_index": token_index, "image_feature": pooled}
        if self.use_lsi:
            local, token_weights = self.pta(picked, self.landmark_mask)
            if token_weights is not None:
                out["token_weights"] = token_weights
        else:  # Table II "GSD only": per-AU features from the pooled image feature
            local = self.global_to_au(pooled[:, None].expand(-1, len(self.aus), -1))
        out["local_features"] = local
        if self.use_gsd:
            out.update(self.gda(local))
        else:
            out.update(au_features=local, logits=self.heads(local))
        out["probs"] = torch.softmax(out["logits"], dim=-1)[..., 1]
        if with_text:
            out["text_pos"], out["text_neg"] = self.text_features()
            if labels is not None:
                out["text_features"] = self.text_for_labels(out["text_pos"], out["text_neg"], labels)
        return out

    @torch.no_grad()
    def predict(self, images: Tensor, landmarks: Tensor, landmark_size: tuple[int, int] | None = None) -> Tensor:
        """``(B, N)`` probability that each AU is active, in eval mode (the previous mode restored)."""
        was_training = self.training
        self.eval()
        try:
            return self(images, landmarks, landmark_size=landmark_size, with_text=False)["probs"]
        finally:
            self.train(was_training)

    def parameter_groups(self, encoder_lr: float = PAPER_LR["encoders"],
                         head_lr: float = PAPER_LR["heads"]) -> list[dict]:
        """Optimizer groups: trainable CLIP parameters at ``encoder_lr``, PTA/GDA/heads at ``head_lr`` (Sec. IV-A2)."""
        enc = [p for p in self.clip.parameters() if p.requires_grad]
        rest = [p for name, p in self.named_parameters() if not name.startswith("clip.") and p.requires_grad]
        return [g for g in ({"params": enc, "lr": encoder_lr}, {"params": rest, "lr": head_lr}) if g["params"]]
