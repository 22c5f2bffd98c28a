"""CNN backbones from timm with an explicit, reported source of weights.

Every backbone returns *pooled features* (``num_classes=0``, ``global_pool="avg"``): a ``(B, D)`` tensor
that the method modules feed to their own heads and losses. Where the weights come from is always a
parameter, because no pip package ships ImageNet or VGG-Face weights and these machines are offline:

=====================  =========================================================================
``weights=``           meaning
=====================  =========================================================================
``"none"``             random initialisation (works everywhere; what the fast profile uses)
``"imagenet"``         timm's ``pretrained=True`` download (needs internet)
``"<path>"``           a state-dict file, e.g. VGG-Face(2) weights converted for timm's SE-ResNet
=====================  =========================================================================

A file is read with ``weights_only=True`` (``.safetensors`` too) and may be a timm or torchvision
state dict (their ResNet keys agree), raw, under ``"state_dict"``/``"model"`` or with ``module.``
prefixes; the ImageNet classifier is dropped and every other tensor must match (else a ``ValueError``
names the file and the keys).

:func:`create_backbone` returns ``(module, feature_dim, description)``; the description says exactly
which weights were loaded and :func:`report_weights` prints it, so a notebook states what it ran.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

# The names the IICL reproduction uses; any other timm model name is accepted as well.
KNOWN_BACKBONES = {
    "seresnet50": "SE-ResNet-50, the IICL paper's backbone (Hu et al. 2018)",
    "seresnet18": "SE-ResNet-18, the fast-profile stand-in for SE-ResNet-50",
    "resnet50": "ResNet-50, the RESnet/RESseq baselines (He et al. 2016)",
    "resnet18": "ResNet-18, the fast-profile stand-in for ResNet-50",
}

# Prefixes that training wrappers add to parameter names (DataParallel, Lightning, our own IICLNet).
STRIP_PREFIXES = ("module.", "model.", "backbone.", "encoder.")
# Keys under which checkpoints commonly nest the state dict.
NESTED_KEYS = ("state_dict", "model", "model_state_dict", "net")


def create_backbone(
    name: str,
    weights: str | Path = "none",
    *,
    strict: bool = True,
    key_map: Callable[[str], str] | None = None,
    **timm_kwargs: Any,
) -> tuple[nn.Module, int, str]:
    """Build a timm backbone that returns pooled ``(B, feature_dim)`` features.

    Parameters
    ----------
    name
        timm model name, e.g. ``"seresnet50"`` (paper), ``"seresnet18"`` (fast), ``"resnet50"``.
    weights
        ``"none"`` (random init), ``"imagenet"`` (timm download, needs internet; offline the hub
        retries for about 45 s, or fails at once with ``HF_HUB_OFFLINE=1``) or a path to a file
        saved with ``torch.save`` (or ``.safetensors``) holding a state dict (raw, under
        ``"state_dict"``/``"model"``, or with ``module.`` prefixes).
    strict
        For a file: raise when any backbone parameter is missing or any file tensor is left unused.
        ``strict=False`` loads what matches and lists the rest in the description.
    key_map
        Optional renaming applied to every file key after prefix stripping (e.g. to map a converted
        Caffe SENet's names onto timm's).
    **timm_kwargs
        Passed to ``timm.create_model`` (``drop_rate``, ``in_chans``, ...).

    Returns
    -------
    module, feature_dim, description
    """
    if not timm.is_model(name):
        raise ValueError(f"unknown backbone {name!r}; known here: {sorted(KNOWN_BACKBONES)} "
                         "(any timm model name also works)")
    if "num_classes" in timm_kwargs:
        raise ValueError("create_backbone always uses num_classes=0 (pooled features); "
                         "put the classification head in the method's model")
    timm_kwargs.setdefault("global_pool", "avg")
    weights_str = str(weights)

    if weights_str == "none":
        model = timm.create_model(name, pretrained=False, num_classes=0, **timm_kwargs)
        description = f"{name}: random init (no pretrained weights)"
    elif weights_str == "imagenet":
        model, description = _create_imagenet(name, timm_kwargs)
    else:
        model = timm.create_model(name, pretrained=False, num_classes=0, **timm_kwargs)
        description = load_state_dict_file(model, name, Path(weights_str), strict=strict, key_map=key_map)
    return model, int(model.num_features), description


def _create_imagenet(name: str, timm_kwargs: dict[str, Any]) -> tuple[nn.Module, str]:
    """timm ``pretrained=True``; turn every failure into one clear, actionable error."""
    if not timm.list_pretrained(name + ".*") and not timm.list_pretrained(name):
        raise RuntimeError(f"timm has no pretrained weights for {name!r}; use weights='none' "
                           "or weights='<path to a state-dict file>'")
    try:
        model = timm.create_model(name, pretrained=True, num_classes=0, **timm_kwargs)
    except Exception as exc:  # network, hub cache and file errors all mean the same thing here
        raise RuntimeError(
            f"could not load ImageNet weights for {name!r} ({type(exc).__name__}: {exc}). "
            "weights='imagenet' needs internet access to the Hugging Face hub; offline, use "
            "weights='none' (random init) or weights='<path to a state-dict file>'") from exc
    tag = model.pretrained_cfg.get("tag") or "default"
    return model, f"{name}: ImageNet weights from timm (tag {tag!r}, classifier removed)"


def read_state_dict(path: Path, key_map: Callable[[str], str] | None = None) -> dict[str, torch.Tensor]:
    """Read a state dict from ``path`` (``weights_only=True``; ``.safetensors`` too), un-nest it and
    strip wrapper prefixes (:func:`unwrap_state_dict`)."""
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path} (weights must be 'none', "
                                "'imagenet' or a path to a state-dict file)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: Any = load_file(str(path), device="cpu")
        else:
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"cannot read {path} as a torch state dict with weights_only=True: {exc}") from exc
    return unwrap_state_dict(obj, path, key_map)


def unwrap_state_dict(obj: Any, path: Path | str, key_map: Callable[[str], str] | None = None
                      ) -> dict[str, torch.Tensor]:
    """The name -> tensor mapping in a loaded checkpoint: one level of :data:`NESTED_KEYS` nesting
    (``{"state_dict": ...}``, ``{"model": ...}``) removed, then :data:`STRIP_PREFIXES` (``module.``
    of DataParallel, ...) stripped from every key and ``key_map`` applied."""
    for key in NESTED_KEYS:
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not obj or not all(torch.is_tensor(v) for v in obj.values()):
        raise ValueError(f"{path} does not hold a state dict (a mapping name -> tensor, possibly "
                         f"under one of {NESTED_KEYS}); found {type(obj).__name__}")
    out: dict[str, torch.Tensor] = {}
    for key, value in obj.items():
        new = key
        while new.startswith(STRIP_PREFIXES):
            new = new[next(len(p) for p in STRIP_PREFIXES if new.startswith(p)):]
        out[key_map(new) if key_map else new] = value
    return out


def match_state_dict(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]
                     ) -> tuple[dict[str, torch.Tensor], list[str], list[str], str]:
    """``(matched, missing, unexpected, summary)`` of a file's ``state`` against a model's ``own``
    state dict; a tensor whose shape differs from the model's counts as unexpected."""
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    missing = [k for k in own if k not in matched]
    unexpected = [k for k in state if k not in matched]
    shape_bad = [f"{k} file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                 for k in unexpected if k in own]
    summary = (f"{len(matched)}/{len(own)} tensors matched; missing {len(missing)} "
               f"(e.g. {missing[:3]}); unexpected {len(unexpected)} (e.g. {unexpected[:3]})"
               + (f"; shape mismatches e.g. {shape_bad[:2]}" if shape_bad else ""))
    return matched, missing, unexpected, summary


def load_matched(model: nn.Module, state: Mapping[str, torch.Tensor], strict: bool, cannot: str,
                 hint: str) -> tuple[int, bool, str]:
    """Load the tensors of ``state`` that fit ``model`` (:func:`match_state_dict`): ``(n_loaded, partial,
    summary)``. Raises ``ValueError(f"{cannot}: {summary}. {hint}")`` when nothing fits, or anything is
    missing or unexpected under ``strict``."""
    matched, missing, unexpected, summary = match_state_dict(model.state_dict(), state)
    if not matched or (strict and (missing or unexpected)):
        raise ValueError(f"{cannot}: {summary}. {hint}")
    model.load_state_dict(matched, strict=False)
    return len(matched), bool(missing or unexpected), summary


def load_state_dict_file(
    model: nn.Module,
    name: str,
    path: Path,
    *,
    strict: bool = True,
    key_map: Callable[[str], str] | None = None,
) -> str:
    """Load a state-dict file into ``model``; return a description, raise a clear error on mismatch.

    The classifier of a full-network checkpoint (e.g. ``fc.weight``) is dropped silently, since the
    backbone has none. Tensors whose shape differs from the model's count as unexpected.
    """
    state = read_state_dict(path, key_map)
    own = model.state_dict()
    classifier = str(model.pretrained_cfg.get("classifier", "fc"))
    dropped = [k for k in state if k.startswith(classifier + ".") and k not in own]
    for k in dropped:
        del state[k]
    n, partial, summary = load_matched(model, state, strict, f"weights file {path} does not fit backbone {name!r}",
                                       "Check the architecture name, pass key_map= to rename keys, or "
                                       "strict=False to load the matching part.")
    note = f", dropped classifier keys {dropped}" if dropped else ""
    if partial:
        return f"{name}: PARTIAL weights from file {path} ({summary}{note}); the rest random init"
    return f"{name}: weights from file {path} (all {n} tensors loaded{note})"


def report_weights(source: nn.Module | str) -> str:
    """Print (and return) which weights a backbone or model holds.

    ``source`` is a description string or a module with a ``weights_description`` attribute
    (e.g. :class:`melib.methods.iicl.model.IICLNet`).
    """
    text = source if isinstance(source, str) else getattr(source, "weights_description", None)
    if text is None:
        raise TypeError(f"{type(source).__name__} has no weights_description; pass the description "
                        "string returned by create_backbone")
    line = f"Backbone weights: {text}"
    print(line)
    return line
