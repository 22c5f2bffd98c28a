"""Face detection, 68 landmarks (dlib default, mediapipe FaceMesh mapped to 68) and clip alignment.

Modules: ``detect`` (dlib, the one call ``landmarks(image, backend=...)``), ``facemesh`` (mediapipe
mapped to dlib's 68 indices), ``align`` (similarity alignment of a whole clip),
``regions`` (landmark-region masks), ``template`` (index tables, the IOD, the canonical 68-point shape);
``check`` (all of it scored on the synthetic SAMM layout's full frames; imported on its own, as it reads
datasets).
"""
from .align import (AlignedClip, align_clip, align_image, derive_template, mirror_landmarks, similarity_to_template,
                    template_points, umeyama, warp_landmarks)
from .facemesh import FACEMESH_TO_DLIB68, close_face_meshes, facemesh_points, mediapipe_landmarks
from .detect import (BACKENDS, FaceNotFoundError, as_uint8_image, detect_faces, dlib_landmarks,
                        group_distances, landmarks, landmarks_and_box, points_box,
                        predictor_path)
from .regions import REGION_POINTS, face_mask, hull_mask, region_masks, region_means
from .template import LANDMARK_GROUPS, MIRROR_68, STABLE_POINTS, TEMPLATE_68, eye_centres, inter_ocular_distance

__all__ = [
    "AlignedClip", "align_clip", "align_image", "derive_template", "mirror_landmarks", "similarity_to_template",
    "template_points", "umeyama", "warp_landmarks",
    "FACEMESH_TO_DLIB68", "close_face_meshes", "facemesh_points", "mediapipe_landmarks",
    "BACKENDS", "LANDMARK_GROUPS", "FaceNotFoundError", "as_uint8_image", "detect_faces", "dlib_landmarks",
    "group_distances", "inter_ocular_distance", "landmarks", "landmarks_and_box", "points_box", "predictor_path",
    "REGION_POINTS", "face_mask", "hull_mask", "region_masks", "region_means",
    "LANDMARK_GROUPS", "MIRROR_68", "STABLE_POINTS", "TEMPLATE_68", "eye_centres", "inter_ocular_distance",
]
