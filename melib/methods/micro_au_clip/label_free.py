"""Micro-AU CLIP's emotion-label-free MER (Wei et al. 2026, Sec. III-E, Eq. 13): the AU-emotion tables
that write the label texts, the label texts' features and the emotion each clip's AU features choose.

Two tables (``LABEL_TABLES``): ``"objective"``, the objective classes (Davison et al. 2018), which the
synthetic generator's emotions also follow (so circular on synthetic data), and ``"emfacs"``, the FACS
Investigator's Guide's emotion prototypes, an independent source (:func:`label_table_rules`).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from melib.data.mappings import OBJECTIVE_CLASS_RULES, THREE_CLASSES

#: Objective classes (Davison et al. 2018; :data:`melib.data.mappings.OBJECTIVE_CLASS_RULES`) -> 3 classes.
OBJECTIVE_TO_THREE_CLASS = {"I": "positive", "II": "surprise", "III": "negative", "IV": "negative",
                            "V": "negative", "VI": "negative"}

#: Emotion prototypes of the FACS Investigator's Guide (Ekman, Friesen & Hager 2002, table of EMFACS
#: emotion predictions), the one prototype per emotion as commonly reproduced (e.g. Wikipedia, "Facial
#: Action Coding System"); intensity letters (5B) and laterality (contempt's R12A+R14A) dropped. Fear is
#: also quoted without AU7 (1+2+4+5+20+26).
EMFACS_PROTOTYPES: dict[str, frozenset[int]] = {
    "happiness": frozenset({6, 12}), "sadness": frozenset({1, 4, 15}), "surprise": frozenset({1, 2, 5, 26}),
    "fear": frozenset({1, 2, 4, 5, 7, 20, 26}), "anger": frozenset({4, 5, 7, 23}),
    "disgust": frozenset({9, 15, 16}), "contempt": frozenset({12, 14})}
#: EMFACS emotions -> 3 classes (MEGC 2019: happiness positive, surprise surprise, the rest negative).
EMFACS_TO_THREE_CLASS = {"happiness": "positive", "surprise": "surprise", "sadness": "negative",
                         "fear": "negative", "anger": "negative", "disgust": "negative", "contempt": "negative"}
#: AU-emotion tables that write Eq. 13's label texts (:func:`label_table_rules`).
LABEL_TABLES = ("objective", "emfacs")


def label_table_rules(table: str = "objective") -> list[tuple[frozenset[int], str]]:
    """``(AU combination, 3-class emotion)`` rows of an AU-emotion table, before Sec. IV-F's AU filter.

    ``"objective"``: every combination of the objective classes I-VI (:data:`OBJECTIVE_TO_THREE_CLASS`).
    The synthetic generator's emotion templates (:data:`melib.data.synthetic.plan.TEMPLATES`) were
    written to agree with these classes, so on synthetic data this table is circular.

    ``"emfacs"``: the seven prototypes of :data:`EMFACS_PROTOTYPES`, from the FACS Investigator's Guide,
    a source the generator was not written from. Restricted to the CASME II AUs (1, 2, 4, 7, 12, 14, 15,
    17) by :func:`emotion_label_combos`' rule: happiness -> 12 (positive); surprise -> 1+2 (surprise);
    sadness -> 1+4+15, fear -> 1+2+4+7, anger -> 4+7, disgust -> 15, contempt -> 12+14 (negative); no
    prototype loses all its AUs. With the SAMM AUs (2, 4, 7, 12) disgust loses all of them and happiness
    and contempt both become 12, a conflict that drops both, so no label text says positive.
    Where it coincides (CASME II AUs): with the objective table on 12 (positive), 1+2 (surprise), 4+7 and
    15 (negative), 4 of its 7 texts (the objective table has 13); with the generator's templates on
    the same four (12 happiness, 1+2 surprise, 4+7 disgust or others, 15 repression). Both tables come
    from FACS, so they draw the same lines (AU12 positive, AU1+2 without AU4 surprise, the rest
    negative): an agreement between them shows the result does not hang on melib's choice of table,
    not that the synthetic emotions are independent of the AUs.
    """
    if table == "objective":
        return [(combo, OBJECTIVE_TO_THREE_CLASS[cls]) for cls, combos in OBJECTIVE_CLASS_RULES.items()
                for combo in combos]
    if table == "emfacs":
        return [(combo, EMFACS_TO_THREE_CLASS[e]) for e, combo in EMFACS_PROTOTYPES.items()]
    raise ValueError(f"unknown label table {table!r}; choose from {list(LABEL_TABLES)}")


def emotion_label_combos(aus: Sequence[int], table: str = "objective") -> tuple[list[frozenset[int]], list[str]]:
    """The filtered AU-emotion table of Sec. IV-F: the label texts r = 1..R of Eq. 13 and their emotions.

    The paper's own table is in its supplement (not available). Here: the combinations of ``table``
    (:func:`label_table_rules`; default the objective classes I-VI) with every AU outside ``aus`` removed
    (Sec. IV-F "remove the less frequently used AUs"), mapped to positive / negative / surprise (Sec.
    IV-A1), empty and repeated combinations dropped, and a combination claimed by two emotions dropped
    from both. Emotions get different numbers of label texts (CASME II, objective: 10 negative, 2
    positive, 1 surprise; EMFACS: 5, 1, 1); Eq. 13's max over r then favours the emotion with more of
    them, as printed.
    """
    keep = {int(a) for a in aus}
    found: dict[frozenset[int], set[str]] = {}
    for combo, emotion in label_table_rules(table):
        filtered = frozenset(combo & keep)
        if filtered:
            found.setdefault(filtered, set()).add(emotion)
    table_rows = sorted(((c, e.pop()) for c, e in found.items() if len(e) == 1),
                        key=lambda ce: (THREE_CLASSES.index(ce[1]), len(ce[0]), sorted(ce[0])))
    return [c for c, _ in table_rows], [e for _, e in table_rows]


def label_text_features(text_pos: Tensor, text_neg: Tensor, aus: Sequence[int],
                        combos: Sequence[frozenset[int]]) -> Tensor:
    """``LF^T_{r,n}`` ``(R, N, d)``: AU n's positive description if n is in combination r, else its negative."""
    active = torch.tensor([[a in c for a in aus] for c in combos], device=text_pos.device)
    return torch.where(active[..., None], text_pos, text_neg)


def emotion_scores(au_features: Tensor, label_text: Tensor) -> Tensor:
    """Eq. 13's argument: ``s_r = sum_n CS(F_n^V, LF_r^T)``, ``(B, R)``.

    ``label_text`` ``(R, N, d)``: one text feature per label text and AU (:func:`label_text_features`,
    the default reading, which compares each AU feature with text of its own AU as MiAUCL trained it);
    or ``(R, d)``: one feature per label text compared with every AU feature (the literal ``LF_r^T``).
    """
    if au_features.ndim != 3:
        raise ValueError(f"au_features must be (B, N, d), got {tuple(au_features.shape)}")
    v = F.normalize(au_features, dim=-1)
    t = F.normalize(label_text, dim=-1)
    if t.ndim == 2:
        return torch.einsum("bnd,rd->br", v, t)
    if t.ndim == 3 and t.shape[1:] == au_features.shape[1:]:
        return torch.einsum("bnd,rnd->br", v, t)
    raise ValueError(f"label_text must be (R, d) or (R, {au_features.shape[1]}, {au_features.shape[2]}), "
                     f"got {tuple(label_text.shape)}")


def label_free_emotion(au_features: Tensor, text_pos: Tensor, text_neg: Tensor, aus: Sequence[int],
                       classes: Sequence[str] = tuple(THREE_CLASSES), table: str = "objective") -> dict:
    """Emotion-label-free MER, Eq. 13: the emotion of the label text with the largest summed similarity.

    Returns ``label_scores`` (B, R) (Eq. 13's argument), ``emotion_scores`` (B, E) (best label text per
    emotion; ``-inf`` for an emotion with no label text), ``prediction`` (B,) indices into ``classes``,
    and the ``combos`` / ``label_emotions`` used (:func:`emotion_label_combos` of ``table``).
    """
    combos, label_emotions = emotion_label_combos(aus, table)
    scores = emotion_scores(au_features, label_text_features(text_pos, text_neg, aus, combos))
    per_emotion = scores.new_full((scores.shape[0], len(classes)), float("-inf"))
    for r, emotion in enumerate(label_emotions):
        e = list(classes).index(emotion)
        per_emotion[:, e] = torch.maximum(per_emotion[:, e], scores[:, r])
    return {"label_scores": scores, "emotion_scores": per_emotion, "prediction": per_emotion.argmax(1),
            "combos": combos, "label_emotions": label_emotions}


__all__ = ["OBJECTIVE_TO_THREE_CLASS", "EMFACS_PROTOTYPES", "EMFACS_TO_THREE_CLASS", "LABEL_TABLES", "label_table_rules", "emotion_label_combos", "label_text_features", "emotion_scores", "label_free_emotion"]
