"""Motion front end: Eulerian magnification (``magnify``), learning-based magnification (``learned``,
Oh et al. 2018; imported on its own: ``from melib.motion import learned``) and optical flow / strain
(``flow``)."""
from .flow import (
    endpoint_error,
    flow_magnitude,
    flow_to_hsv_image,
    global_translation,
    mimic_input,
    onset_apex_flow,
    optical_flow,
    optical_strain,
)
from .magnify import (
    collapse_laplacian_pyramid,
    eulerian,
    laplacian_pyramid,
    magnify_clip_frames,
    magnify_pair,
    temporal_bandpass,
)

__all__ = [
    "collapse_laplacian_pyramid",
    "endpoint_error",
    "eulerian",
    "flow_magnitude",
    "flow_to_hsv_image",
    "global_translation",
    "laplacian_pyramid",
    "magnify_clip_frames",
    "magnify_pair",
    "mimic_input",
    "onset_apex_flow",
    "optical_flow",
    "optical_strain",
    "temporal_bandpass",
]
