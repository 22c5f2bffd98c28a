"""Micro-AU CLIP's encoders (Wei et al. 2026, arXiv 2603.16302, Sec. III-A, IV-A2): open_clip's CLIP
image and text towers, built, loaded and partly frozen. No equation of the paper is here; the network on
top of them is :mod:`melib.methods.micro_au_clip.model`.

Backbones: ``model_name`` and ``weights``
---------------------------------------
``model_name="ViT-B-32"`` is the paper's encoder pair (Sec. IV-A2); any open_clip ViT config works, e.g.
``"ViT-S-16"`` with ``image_size=112`` (a 7 x 7 grid, as ViT-B/32 at 224 px) as a CPU profile, and
``"tiny"`` (:data:`TINY_CLIP_CONFIG`: 4-block, 64-wide towers, 8-px patches at 56 px, again 7 x 7; builds
in < 0.1 s with random init) for tests. ``weights`` is ``"none"`` (random init), ``"openai"`` (open_clip's
download of OpenAI's CLIP weights; needs internet) or a path to a CLIP state dict (``.safetensors`` or a
``torch.save`` file read with ``weights_only=True``); :func:`create_clip` returns which, and
:attr:`melib.methods.micro_au_clip.model.MicroAUCLIP.weights_description` says it.

Choices where the paper is open
-------------------------------
- ``train_blocks`` (default 3, Sec. IV-A2) unfreezes the last blocks of each tower together with what
  follows them (visual ``ln_post``/``proj``, text ``ln_final``/``text_projection``); ``0`` freezes a tower
  (:func:`freeze_clip`).
- OpenAI's CLIP uses QuickGELU; ``quick_gelu=True`` (default) builds that activation for every config.
"""
from __future__ import annotations

from pathlib import Path

import open_clip
from open_clip.transformer import VisionTransformer
from torch import nn

PAPER_MODEL = "ViT-B-32"                        # the paper's encoder pair (Sec. IV-A2)
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
WEIGHTS_HELP = "weights must be 'none', 'openai' or a path to a CLIP state-dict file"


def create_clip(model_name: str = PAPER_MODEL, weights: str | Path = "none", *, image_size: int | None = None,
                quick_gelu: bool = True, strict: bool = True) -> tuple[nn.Module, str]:
    """Build an open_clip CLIP model; return ``(clip, description)``. See this module's docstring."""
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
