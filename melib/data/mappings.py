"""AU sets, emotion class schemes, objective classes and the eyes/mouth AU split.

Emotion names are the datasets' own, lower-cased, as :func:`melib.data.read_annotations` writes them.
``"synthetic"`` follows CASME II everywhere (the synthetic dataset is written in CASME II layout).
"""
from __future__ import annotations

from collections.abc import Iterable

CASME2_AUS: tuple[int, ...] = (1, 2, 4, 7, 12, 14, 15, 17)
"""AUs with >= 15 samples in CASME II, the set IICL and Micro-AU CLIP detect."""
SAMM_AUS: tuple[int, ...] = (2, 4, 7, 12)
"""The SAMM AU set of IICL (Table 3)."""

SCHEMES = ("5class", "3class")
THREE_CLASSES = ["negative", "positive", "surprise"]  # MEGC 2019 label order 0, 1, 2

# Each dataset's emotion vocabulary -> class per scheme (None = the clip is dropped in that scheme).
# 5-class orders follow Table 2 of the annotation-mimic paper (Ruan et al. 2022).
_SCHEMES: dict[str, dict[str, dict[str, str | None]]] = {
    "casme2": {
        "5class": {"disgust": "disgust", "happiness": "happiness", "repression": "repression",
                   "surprise": "surprise", "others": "others", "fear": None, "sadness": None},
        "3class": {"disgust": "negative", "happiness": "positive", "repression": "negative",
                   "surprise": "surprise", "others": None, "fear": None, "sadness": None},
    },
    "samm": {
        "5class": {"contempt": "contempt", "happiness": "happiness", "anger": "anger",
                   "surprise": "surprise", "other": "other", "disgust": None, "fear": None, "sadness": None},
        "3class": {"contempt": "negative", "happiness": "positive", "anger": "negative",
                   "surprise": "surprise", "other": None, "disgust": "negative", "fear": "negative",
                   "sadness": "negative"},
    },
    "smic": {
        "3class": {"negative": "negative", "positive": "positive", "surprise": "surprise"},
    },
    # CAS(ME)^3 has no MEGC 2019 mapping; this one applies the same rule (happy -> positive,
    # disgust/fear/anger/sad -> negative, others dropped), i.e. its 4-class set minus "others".
    "casme3a": {
        "3class": {"happy": "positive", "disgust": "negative", "fear": "negative", "anger": "negative",
                   "sad": "negative", "surprise": "surprise", "others": None},
    },
    # The MEGC 2019 composite (melib.data.composite): its classes are the three classes themselves; its
    # rows keep their own dataset's emotion words and are mapped row by row (map_emotions).
    "megc": {
        "3class": {"negative": "negative", "positive": "positive", "surprise": "surprise"},
    },
}
# Spellings seen across releases and papers, mapped onto each dataset's own.
_ALIASES: dict[str, dict[str, str]] = {
    "casme2": {"other": "others", "happy": "happiness", "sad": "sadness"},
    "samm": {"others": "other", "happy": "happiness", "sad": "sadness"},
    "smic": {},
    "casme3a": {"happiness": "happy", "sadness": "sad", "other": "others", "angry": "anger"},
    "megc": {},
}


def _dataset(dataset: str) -> str:
    name = "casme2" if dataset == "synthetic" else dataset
    if name not in _SCHEMES:
        raise ValueError(f"unknown dataset {dataset!r}; known: synthetic, {', '.join(_SCHEMES)}")
    return name


def au_set(dataset: str) -> tuple[int, ...]:
    """The AUs the papers detect on ``dataset`` (CASME II / synthetic: 8 AUs; SAMM: 4 AUs)."""
    name = _dataset(dataset)
    if name == "casme2":
        return CASME2_AUS
    if name == "samm":
        return SAMM_AUS
    if name == "smic":
        raise ValueError("no standard AU set for 'smic': SMIC-HS has no AU labels")
    raise ValueError(f"no standard AU set for {dataset!r}; pick AUs from the manifest's AU columns")


def _scheme(dataset: str, scheme: str) -> dict[str, str | None]:
    name = _dataset(dataset)
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}; got {scheme!r}")
    if scheme not in _SCHEMES[name]:
        raise ValueError(f"dataset {dataset!r} has no {scheme} scheme; it has {', '.join(_SCHEMES[name])}")
    return _SCHEMES[name][scheme]


def emotion_classes(dataset: str, scheme: str = "5class") -> list[str]:
    """Class names of ``scheme`` on ``dataset``, in label order (index = integer label)."""
    if scheme == "3class":
        _scheme(dataset, scheme)
        return list(THREE_CLASSES)
    return list(dict.fromkeys(c for c in _scheme(dataset, scheme).values() if c is not None))


def map_emotion(dataset: str, emotion: str, scheme: str = "5class") -> str | None:
    """Class of a clip's emotion under ``scheme``; ``None`` when the scheme drops it.

    An emotion outside the dataset's vocabulary raises ``ValueError`` (never silently dropped).
    """
    table = _scheme(dataset, scheme)
    key = str(emotion).strip().lower()
    key = _ALIASES[_dataset(dataset)].get(key, key)
    if key not in table:
        raise ValueError(f"unknown {dataset} emotion {emotion!r}; known: {', '.join(sorted(table))}")
    return table[key]


def map_emotions(datasets: Iterable[str], emotions: Iterable[str], scheme: str = "5class") -> list[str | None]:
    """:func:`map_emotion` clip by clip, each clip in its own dataset's vocabulary (a manifest's ``dataset``
    and ``emotion`` columns; the MEGC composite's rows come from three datasets).

    Clips of several datasets share classes only in the 3-class scheme (MEGC 2019); another scheme over
    several datasets raises ``ValueError``.
    """
    datasets, emotions = [str(d) for d in datasets], list(emotions)
    if len(datasets) != len(emotions):
        raise ValueError(f"{len(datasets)} datasets for {len(emotions)} emotions")
    if len(set(datasets)) > 1 and scheme != "3class":
        raise ValueError(f"clips of several datasets ({', '.join(sorted(set(datasets)))}) share classes only in "
                         f"the 3-class scheme (MEGC 2019); got {scheme!r}")
    return [map_emotion(d, e, scheme) for d, e in zip(datasets, emotions)]


# Objective classes (Davison, Merghani & Yap 2018, J. Imaging 4(10):119): AU combinations per class.
OBJECTIVE_CLASSES = ("I", "II", "III", "IV", "V", "VI", "VII")
OBJECTIVE_CLASS_EMOTIONS = {"I": "happiness", "II": "surprise", "III": "anger", "IV": "disgust",
                            "V": "sadness", "VI": "fear", "VII": "others"}
OBJECTIVE_CLASS_RULES: dict[str, tuple[frozenset[int], ...]] = {
    cls: tuple(frozenset(int(a) for a in combo.split("+")) for combo in combos.split())
    for cls, combos in {
        "I": "6 12 6+12 6+7+12 7+12",
        "II": "1+2 5 25 1+2+25 25+26 5+24",
        "III": "23 4 4+7 4+5 4+5+7 17+24 4+6+7 4+38",
        "IV": "10 9 4+9 4+40 4+5+40 4+7+9 4+9+17 4+7+10 4+5+7+9 7+10",
        "V": "1 15 1+4 6+15 15+17",
        "VI": "1+2+4 20",
    }.items()
}


def objective_class(aus: Iterable[int], resolve: str = "largest") -> str:
    """Objective class ``"I"``..``"VII"`` of a clip from its AUs (laterality/intensity already dropped).

    An AU set equal to a listed combination gets that class. Otherwise, with ``resolve="largest"``
    (default), the listed combinations contained in the set are considered and the largest win; if
    they all belong to one class that is the answer, and if they disagree (e.g. ``4+7+12``: III's
    ``4+7`` against I's ``7+12``) or none is contained, the clip is ``"VII"``. ``resolve="exact"``
    uses exact matches only (everything else is ``"VII"``).
    """
    if resolve not in ("largest", "exact"):
        raise ValueError(f"resolve must be 'largest' or 'exact'; got {resolve!r}")
    found = frozenset(int(a) for a in aus)
    rules = [(cls, combo) for cls, combos in OBJECTIVE_CLASS_RULES.items() for combo in combos]
    for cls, combo in rules:
        if combo == found:
            return cls
    if resolve == "exact":
        return "VII"
    contained = [(cls, combo) for cls, combo in rules if combo <= found]
    if not contained:
        return "VII"
    largest = max(len(combo) for _, combo in contained)
    classes = {cls for cls, combo in contained if len(combo) == largest}
    return classes.pop() if len(classes) == 1 else "VII"


_EYES = set(range(1, 10)) | set(range(41, 47)) | set(range(61, 65))
_MOUTH = set(range(10, 29)) | {38}


def au_region(au: int) -> str | None:
    """``"eyes"`` (AU 1-9, 41-46, 61-64), ``"mouth"`` (AU 10-28, 38) or ``None`` (e.g. head AUs 51-58).

    The split of the annotation-mimic paper (Ruan et al. 2022, Sec. 1): an AU moves the eyes or the
    mouth, not both. AU 9 (nose wrinkler) counts as eyes, as in the split the project follows.
    """
    au = int(au)
    if au in _EYES:
        return "eyes"
    if au in _MOUTH:
        return "mouth"
    return None


def split_regions(aus: Iterable[int]) -> dict[str, tuple[int, ...]]:
    """``{"eyes": (...), "mouth": (...)}`` of a clip's AUs; AUs of neither region are left out."""
    out: dict[str, list[int]] = {"eyes": [], "mouth": []}
    for au in sorted({int(a) for a in aus}):
        region = au_region(au)
        if region is not None:
            out[region].append(au)
    return {k: tuple(v) for k, v in out.items()}


#: Recording frame rates (frames per second) of each dataset; SMIC-HS is the 100 fps high-speed set.
FRAME_RATES: dict[str, float] = {"synthetic": 200.0, "casme2": 200.0, "samm": 200.0, "smic": 100.0, "casme3a": 30.0}
