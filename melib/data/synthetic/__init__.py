"""A synthetic micro-expression dataset in the CASME II layout, with known true motion.

One reader serves real and synthetic data (``melib.data.read_annotations("casme2", root)``), and the
ground truth (flow onset -> apex, per-frame landmarks, head motion) lets notebooks measure how well
optical flow or motion magnification recovers a movement of a fraction of a pixel.

Pieces, in the order a frame is made:

- :mod:`.plan`   clips, AU combinations (CASME II-like counts), emotions, durations, distractors
- :mod:`.faces`  subjects from the public-domain portraits shipped in skimage / matplotlib
- :mod:`.fields` one smooth landmark-anchored displacement field per FACS AU (:func:`au_displacement`)
- :mod:`.appearance` FACS appearance changes per AU (furrows, bulges, the mouth opening), age lines
- :mod:`.render` temporal profile, head motion, blinks, lighting drift, noise, ground truth
- :mod:`.dataset` files on disk: :func:`generate`, :func:`ensure`, :func:`load_groundtruth`
- :mod:`.layouts` the same clips in SAMM's, SMIC-HS's or CAS(ME)^3 part A's official layout
  (``layouts.generate(out, "samm")``, ``layouts.convert``, ``layouts.truth_table``)

Typical use::

    from melib.data import synthetic
    root = synthetic.ensure()            # generates data/synthetic once (about 250 clips)
    gt = synthetic.load_groundtruth(root, "sub01", "EP02_01f")
"""
from .appearance import AU_APPEARANCE, age_lines, au_appearance, expression_appearance
from .dataset import (DEFAULT_APPEARANCE, EASY_SETTINGS, EVALUATION_SEED, check_development, GENERATOR_VERSION, SHEET_NAME, TINY_SETTINGS, clip_table, dataset_info, default_root, ensure, generate,
                      is_complete, load_groundtruth, motion_twin, settings, subject_dir)
from .faces import BaseFace, Subject, base_faces, make_subject
from .fields import (AU_SPECS, AUSpec, RBFField, au_anchors, au_displacement, au_field, expression_displacement,
                     face_frame, landmark_displacement)
from .plan import (CASME2_AU_COUNTS, CASME2_CLIPS, EMOTIONS, TEMPLATES, ClipSpec, annotation_frame,
                   plan_dataset)
from .render import RenderedClip, appearance_strength, blink_field, blink_profile, expression_profile, render_clip

__all__ = [
    "AU_APPEARANCE", "age_lines", "au_appearance", "expression_appearance", "DEFAULT_APPEARANCE", "EASY_SETTINGS",
    "appearance_strength",
    "EVALUATION_SEED", "check_development", "GENERATOR_VERSION", "SHEET_NAME", "clip_table", "TINY_SETTINGS", "dataset_info", "default_root", "ensure", "generate",
    "is_complete", "load_groundtruth", "motion_twin", "settings", "subject_dir", "BaseFace", "Subject", "base_faces",
    "make_subject", "AU_SPECS", "AUSpec", "RBFField", "au_anchors", "au_displacement", "au_field",
    "expression_displacement", "face_frame", "landmark_displacement", "CASME2_AU_COUNTS", "CASME2_CLIPS",
    "EMOTIONS", "TEMPLATES", "ClipSpec", "annotation_frame", "plan_dataset", "RenderedClip", "blink_field",
    "blink_profile", "expression_profile", "render_clip",
]
