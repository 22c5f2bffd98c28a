"""AU sets, emotion schemes, objective classes and the eyes/mouth split, on hand-checked examples."""
import pytest

from melib.data import (
    CASME2_AUS,
    SAMM_AUS,
    au_region,
    au_set,
    emotion_classes,
    map_emotion,
    objective_class,
    split_regions,
)


def test_au_sets():
    assert CASME2_AUS == (1, 2, 4, 7, 12, 14, 15, 17)
    assert SAMM_AUS == (2, 4, 7, 12)
    assert au_set("casme2") == au_set("synthetic") == CASME2_AUS
    assert au_set("samm") == SAMM_AUS
    with pytest.raises(ValueError, match="no standard AU set"):
        au_set("smic")
    with pytest.raises(ValueError, match="unknown dataset"):
        au_set("casme")


def test_emotion_classes():
    assert emotion_classes("casme2") == ["disgust", "happiness", "repression", "surprise", "others"]
    assert emotion_classes("samm", "5class") == ["contempt", "happiness", "anger", "surprise", "other"]
    for dataset in ("casme2", "samm", "smic", "casme3a", "synthetic"):
        assert emotion_classes(dataset, "3class") == ["negative", "positive", "surprise"]
    with pytest.raises(ValueError, match="no 5class scheme"):
        emotion_classes("smic", "5class")
    with pytest.raises(ValueError, match="scheme must be"):
        emotion_classes("casme2", "7class")


@pytest.mark.parametrize("dataset, emotion, five, three", [
    ("casme2", "happiness", "happiness", "positive"),
    ("casme2", " Disgust ", "disgust", "negative"),
    ("casme2", "repression", "repression", "negative"),
    ("casme2", "surprise", "surprise", "surprise"),
    ("casme2", "others", "others", None),
    ("casme2", "fear", None, None),
    ("casme2", "sadness", None, None),
    ("synthetic", "repression", "repression", "negative"),
    ("samm", "Anger", "anger", "negative"),
    ("samm", "Contempt", "contempt", "negative"),
    ("samm", "Happiness", "happiness", "positive"),
    ("samm", "Surprise", "surprise", "surprise"),
    ("samm", "Other", "other", None),
    ("samm", "others", "other", None),   # alias spelling
    ("samm", "Disgust", None, "negative"),
    ("samm", "Fear", None, "negative"),
    ("samm", "Sadness", None, "negative"),
])
def test_map_emotion(dataset, emotion, five, three):
    assert map_emotion(dataset, emotion, "5class") == five
    assert map_emotion(dataset, emotion, "3class") == three


def test_map_emotion_three_class_only_datasets():
    assert [map_emotion("smic", e, "3class") for e in ("positive", "negative", "surprise")] == \
        ["positive", "negative", "surprise"]
    assert map_emotion("casme3a", "happy", "3class") == "positive"
    assert map_emotion("casme3a", "Sad", "3class") == "negative"
    assert map_emotion("casme3a", "others", "3class") is None


def test_map_emotion_rejects_unknown_emotions():
    with pytest.raises(ValueError, match="unknown casme2 emotion 'joy'"):
        map_emotion("casme2", "joy", "5class")
    with pytest.raises(ValueError, match="unknown samm emotion 'repression'"):
        map_emotion("samm", "repression", "5class")


@pytest.mark.parametrize("aus, expected", [
    ((6, 12), "I"),
    ((12,), "I"),
    ((1, 2), "II"),
    ((25, 26), "II"),
    ((4, 7), "III"),
    ((17, 24), "III"),
    ((4, 7, 10), "IV"),
    ((9,), "IV"),
    ((1, 4), "V"),
    ((15, 17), "V"),
    ((1, 2, 4), "VI"),
    ((20,), "VI"),
    ((14,), "VII"),          # no rule
    ((), "VII"),
    ((4, 7, 43), "III"),     # superset of 4+7 (largest contained rule)
    ((1, 2, 4, 7), "VI"),    # 1+2+4 (3 AUs) beats 4+7 (2 AUs)
    ((4, 7, 9, 17), "IV"),   # 4+7+9 and 4+9+17, both IV
    ((4, 7, 12), "VII"),     # 4+7 (III) and 7+12 (I) tie -> ambiguous
    ((6, 12, 15), "VII"),    # 6+12 (I) vs 6+15 (V)
])
def test_objective_class(aus, expected):
    assert objective_class(aus) == expected


def test_objective_class_exact():
    assert objective_class([4, 7], resolve="exact") == "III"
    assert objective_class([4, 7, 43], resolve="exact") == "VII"
    with pytest.raises(ValueError):
        objective_class([4], resolve="closest")


def test_au_region():
    assert [au_region(a) for a in (1, 2, 4, 7, 9, 43, 45, 61)] == ["eyes"] * 8
    assert [au_region(a) for a in (10, 12, 14, 15, 17, 25, 28, 38)] == ["mouth"] * 8
    assert [au_region(a) for a in (29, 39, 51, 58)] == [None] * 4
    assert split_regions([17, 4, 12, 1, 51]) == {"eyes": (1, 4), "mouth": (12, 17)}
