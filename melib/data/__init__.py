"""Dataset readers, AU parsing, class mappings and frame I/O.

``load_manifest(name)`` (defaults resolved) or ``read_annotations(name, root)`` turns a dataset's sheet and frame folders into a manifest DataFrame
(one row per clip, multi-hot ``AU<n>`` columns); ``load_frame``/``load_clip`` read its frames.
``load_manifest("megc", "casme2=...,samm=...,smic=...")`` is the MEGC 2019 composite (:mod:`.composite`).
The synthetic dataset generator is imported on its own: ``import melib.data.synthetic``.
"""
from .aus import format_aus, parse_aus
from .frames import FrameReadError, available_frames, frame_path, load_clip, load_frame
from .mappings import (
    CASME2_AUS,
    FRAME_RATES,
    OBJECTIVE_CLASS_EMOTIONS,
    OBJECTIVE_CLASS_RULES,
    OBJECTIVE_CLASSES,
    SAMM_AUS,
    au_region,
    au_set,
    emotion_classes,
    map_emotion,
    map_emotions,
    objective_class,
    split_regions,
)
from .manifest import (au_matrix, dataset_root, has_au_labels, load_manifest, subset_subjects, three_class_clips,
                       three_class_index)
from .readers import DATASETS, AnnotationError, AnnotationWarning, read_annotations
from .composite import load_composite

__all__ = [
    "AnnotationError", "au_matrix", "AnnotationWarning", "CASME2_AUS", "FRAME_RATES", "DATASETS", "FrameReadError", "OBJECTIVE_CLASSES",
    "OBJECTIVE_CLASS_EMOTIONS", "OBJECTIVE_CLASS_RULES", "SAMM_AUS", "au_region", "au_set",
    "available_frames", "dataset_root", "emotion_classes", "format_aus", "frame_path", "load_clip", "load_frame",
    "has_au_labels", "load_composite", "load_manifest", "map_emotion", "map_emotions", "objective_class", "parse_aus", "read_annotations", "split_regions",
    "subset_subjects", "three_class_clips", "three_class_index",
]
