"""Wei et al. 2026, "Micro-AU CLIP: Fine-Grained Contrastive Learning from Local Independence to Global
Dependency for Micro-Expression Action Unit Detection" (arXiv 2603.16302): the network.

Network (Fig. 2, Sec. III-A to III-C)
-------------------------------------
CLIP's ViT visual encoder (:mod:`melib.methods.micro_au_clip.towers`) turns the ``(B, 3, H0, W0)``
optical-flow image into an ``h x w`` grid of patch tokens ``F_O^V``; **LSI** (Sec. III-B) picks, for each
AU, the tokens under its Table I landmarks (Eq. 1, :func:`pick_landmark_tokens`) and fuses them with
**PTA** (Eqs. 2-3, :class:`PatchTokenAttention`) into the local AU feature ``F~_n``; **GSD** (Sec. III-C,
Eqs. 4-7, :class:`GlobalDependencyAttention`) attends over the N AU features, turns the attention into the
dependency weights ``W_d``, adds the global feature ``F_G = W_d F~ W^V`` to every AU feature and
classifies each with its own 2-way head (LSI and GSD: :mod:`melib.methods.micro_au_clip.heads`). CLIP's
text encoder embeds one positive and one negative description per AU (:data:`AU_DESCRIPTIONS`); the
losses (Eqs. 8-12) are in :mod:`melib.methods.micro_au_clip.losses`. Emotion-label-free MER (Sec. III-E,
Eq. 13) is :func:`label_free_emotion` (:mod:`melib.methods.micro_au_clip.label_free`). Every name of
``towers``, ``heads`` and ``label_free`` that this module used to hold is importable from here too.

Choices where the paper is open (each also noted where it is implemented)
--------------------------------------------------------------------------
- Patch tokens are the last block's output after CLIP's ``ln_post`` and image projection ``proj`` (as
  MaskCLIP does for dense CLIP features), so ``d`` equals the text feature size, as Eq. 9 needs.
- ``P_n[1]`` (logit index 1) is "AU n active" (Eq. 7).
- The text encoder sees the whole sentence; its features are not normalised here (the losses do it).
- Table I's reading, Eq. 1's rounding, the per-AU MLPs and GDA's FC: :mod:`melib.methods.micro_au_clip.heads`;
  ``train_blocks`` and QuickGELU: :mod:`melib.methods.micro_au_clip.towers`.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import open_clip
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from melib.methods.micro_au_clip.heads import (  # noqa: F401 (re-exported)
    AU_LANDMARKS,
    FUSIONS,
    GDA_FCS,
    POOLINGS,
    GlobalDependencyAttention,
    MLPFusion,
    PatchTokenAttention,
    PerAUMLP,
    au_landmark_index,
    landmark_token_index,
    pick_landmark_tokens,
)
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
from melib.methods.micro_au_clip.towers import (  # noqa: F401 (re-exported)
    PAPER_MODEL,
    TINY_CLIP_CONFIG,
    TINY_LONG_CONTEXT,
    TINY_MODELS,
    WEIGHTS_HELP,
    _text_parts,
    create_clip,
    freeze_clip,
    load_clip_file,
)
from melib.models.backbones import report_weights

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

PAPER_TRAIN_BLOCKS = 3                          # "fine-tune the last three layers" (Sec. IV-A2)
PAPER_LR = {"encoders": 1e-3, "heads": 1e-2}    # SGD learning rates (Sec. IV-A2)


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
        Backbone, see :func:`create_clip` and :mod:`melib.methods.micro_au_clip.towers`.
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
