"""Synthetic training pairs for learned motion magnification, after Oh et al. (ECCV 2018) Sec. 3.2.

The paper pastes segmented PASCAL VOC objects on MS COCO backgrounds. No image datasets are
available offline, so here the foreground is a random star-shaped blob and both layers get random
textures: multi-octave noise, stripes, gradients, or crops of the photographs that ship with
scikit-image. Foreground and background move independently by known sub-pixel shifts ``d_fg`` and
``d_bg`` (with some samples static in the background, some moving globally, some with low contrast,
as in Sec. 3.2). Every sample gives

* ``x_a``, ``x_b``: the input pair (layers at offset ``o`` and ``o + d``);
* ``y``: the target, the layers at ``o + alpha * d`` (the motion magnified ``alpha`` times);
* ``x_b_pert``, ``y_pert``: ``x_b`` and ``y`` with the same random colour change, used by the
  texture/shape regulariser (Sec. 3.1, see :func:`melib.motion.learned.training.magnification_loss`).

Sub-pixel shifts are rendered by bicubic resampling; ``x_a`` also gets a random sub-pixel offset so
that all three frames are resampled alike. Inputs get signal-dependent (Poisson-like) noise and all
frames are quantised to 8 bits, as the paper stresses. Values are in ``[0, 1]``, ``(B, 3, H, W)``.
"""
from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import torch
import torch.nn.functional as F

#: scikit-image photographs used as natural textures (all ship inside the wheel).
NATURAL_IMAGES = ("astronaut", "coffee", "chelsea", "rocket", "brick", "grass", "gravel",
                  "immunohistochemistry", "camera")


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Settings of the synthetic pair generator (motions in pixels at ``image_size``).

    The defaults suit micro-expressions: input motion of at most 2 px on a 64 px crop, alpha up to 10.
    """

    image_size: int = 64
    alpha_range: tuple[float, float] = (1.0, 10.0)
    min_input_motion: float = 0.0
    max_input_motion: float = 2.0
    max_magnified_motion: float = 12.0    # the paper caps alpha * |d| (30 px at 384 px)
    static_background_prob: float = 0.3   # background does not move
    global_motion_prob: float = 0.15      # background moves with the foreground
    low_contrast_prob: float = 0.2        # textures scaled down to 10-50 % contrast
    natural_texture_prob: float = 0.5     # a layer's texture is a photo crop, else procedural
    object_size: tuple[float, float] = (0.3, 0.75)  # foreground radius range, fraction of image_size
    noise_max: float = 3.0                # max noise std on a 0-255 scale at mid-grey (Sec. 3.2)
    color_gain: tuple[float, float] = (0.6, 1.4)    # per-channel gain of the colour perturbation
    color_offset: float = 0.15            # max per-channel offset of the colour perturbation

    def __post_init__(self) -> None:
        lo, hi = self.alpha_range
        if not 0 <= lo <= hi:
            raise ValueError(f"alpha_range must satisfy 0 <= low <= high; got {self.alpha_range}")
        if not 0 <= self.min_input_motion <= self.max_input_motion:
            raise ValueError(f"need 0 <= min_input_motion <= max_input_motion; got "
                             f"{self.min_input_motion}, {self.max_input_motion}")
        if self.image_size < 8:
            raise ValueError(f"image_size must be >= 8; got {self.image_size}")


@dataclasses.dataclass
class PairBatch:
    """One batch from :func:`make_batch`; images ``(B, 3, H, W)`` in ``[0, 1]``, motions ``(B, 2)`` as (dx, dy)."""

    x_a: torch.Tensor
    x_b: torch.Tensor
    y: torch.Tensor
    x_b_pert: torch.Tensor
    y_pert: torch.Tensor
    alpha: torch.Tensor
    motion_fg: torch.Tensor
    motion_bg: torch.Tensor
    mask_a: torch.Tensor  # (B, 1, H, W) foreground coverage in x_a

    def to(self, device: torch.device | str) -> "PairBatch":
        return PairBatch(**{f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)})


def make_batch(config: SyntheticConfig, batch_size: int, seed: int) -> PairBatch:
    """Render ``batch_size`` samples; the same ``(config, batch_size, seed)`` gives identical tensors."""
    gen = torch.Generator().manual_seed(int(seed))
    size = config.image_size
    alpha = _uniform(gen, batch_size, *config.alpha_range)
    motion_fg = _sample_motion(gen, config, alpha)
    motion_bg = _sample_motion(gen, config, alpha)
    mode = torch.rand(batch_size, generator=gen)
    static = mode < config.static_background_prob
    together = (mode >= config.static_background_prob) & (mode < config.static_background_prob
                                                           + config.global_motion_prob)
    motion_bg[static] = 0.0
    motion_bg[together] = motion_fg[together]

    margin = math.ceil(config.max_magnified_motion + config.max_input_motion) + 4
    canvas = size + 2 * margin
    background = torch.stack([_texture(gen, config, canvas) for _ in range(batch_size)])
    foreground = torch.stack([_texture(gen, config, canvas) for _ in range(batch_size)])
    mask = torch.stack([_blob_mask(gen, config, canvas) for _ in range(batch_size)])
    fg_premult = torch.cat([foreground * mask, mask], dim=1)  # warp colour*coverage and coverage together

    offset_fg = torch.rand(batch_size, 2, generator=gen) - 0.5
    offset_bg = torch.rand(batch_size, 2, generator=gen) - 0.5

    def render(scale: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
        scale = torch.as_tensor(scale).reshape(-1, 1)
        fg = shift_crop(fg_premult, offset_fg + scale * motion_fg, margin, size)
        bg = shift_crop(background, offset_bg + scale * motion_bg, margin, size)
        coverage = fg[:, 3:].clamp(0, 1)
        return (fg[:, :3] + (1 - coverage) * bg).clamp(0, 1), coverage

    x_a, mask_a = render(0.0)
    x_b, _ = render(1.0)
    y, _ = render(alpha)
    gain = _uniform(gen, batch_size * 3, *config.color_gain).reshape(-1, 3, 1, 1)
    offset = (2 * torch.rand(batch_size, 3, 1, 1, generator=gen) - 1) * config.color_offset

    def perturb(img: torch.Tensor) -> torch.Tensor:
        return (img * gain + offset).clamp(0, 1)

    noise_std = torch.rand(batch_size, 1, 1, 1, generator=gen) * config.noise_max / 255.0
    x_a = _add_noise(gen, x_a, noise_std)
    x_b_pert = _add_noise(gen, perturb(x_b), noise_std)
    x_b = _add_noise(gen, x_b, noise_std)
    return PairBatch(x_a=quantize(x_a), x_b=quantize(x_b), y=quantize(y), x_b_pert=quantize(x_b_pert),
                     y_pert=quantize(perturb(y)), alpha=alpha, motion_fg=motion_fg, motion_bg=motion_bg,
                     mask_a=mask_a)


def shift_crop(image: torch.Tensor, shift: torch.Tensor, margin: int, size: int) -> torch.Tensor:
    """Content of ``image`` moved by ``shift`` (B, 2) px as (dx, dy), then the central ``size`` crop.

    Bicubic resampling: output pixel ``p`` reads the canvas at ``p + margin - shift``.
    """
    batch, _, canvas_h, canvas_w = image.shape
    coords = torch.arange(size, dtype=image.dtype) + margin
    xs = (coords.reshape(1, 1, -1) - shift[:, 0].reshape(-1, 1, 1)).expand(batch, size, size)
    ys = (coords.reshape(1, -1, 1) - shift[:, 1].reshape(-1, 1, 1)).expand(batch, size, size)
    grid = torch.stack([(2 * xs + 1) / canvas_w - 1, (2 * ys + 1) / canvas_h - 1], dim=-1)
    return F.grid_sample(image, grid, mode="bicubic", padding_mode="border", align_corners=False)


def quantize(image: torch.Tensor) -> torch.Tensor:
    """Round to 8-bit levels, as real frames are: sub-level intensity changes are lost (Sec. 3.2)."""
    return torch.round(image.clamp(0, 1) * 255) / 255


def _uniform(gen: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def _sample_motion(gen: torch.Generator, config: SyntheticConfig, alpha: torch.Tensor) -> torch.Tensor:
    """Random direction; magnitude uniform in [min, max] with ``alpha * |d|`` capped (Sec. 3.2)."""
    top = torch.clamp(config.max_magnified_motion / alpha.clamp(min=1e-6), max=config.max_input_motion)
    low = torch.clamp(torch.full_like(top, config.min_input_motion), max=top)
    magnitude = low + (top - low) * torch.rand(alpha.shape[0], generator=gen)
    angle = 2 * math.pi * torch.rand(alpha.shape[0], generator=gen)
    return torch.stack([magnitude * torch.cos(angle), magnitude * torch.sin(angle)], dim=1)


def _add_noise(gen: torch.Generator, image: torch.Tensor, std_mid: torch.Tensor) -> torch.Tensor:
    """Poisson-like noise: standard deviation ``std_mid * sqrt(I / 0.5)``."""
    std = std_mid * torch.sqrt(image.clamp(min=0) / 0.5)
    return (image + std * torch.randn(image.shape, generator=gen)).clamp(0, 1)


def _texture(gen: torch.Generator, config: SyntheticConfig, size: int) -> torch.Tensor:
    """A random ``(3, size, size)`` texture in [0, 1]."""
    if torch.rand(1, generator=gen).item() < config.natural_texture_prob:
        tex = _natural_crop(gen, size)
    else:
        kind = int(torch.randint(3, (1,), generator=gen))
        tex = (_noise_texture, _stripes, _gradient)[kind](gen, size)
    if torch.rand(1, generator=gen).item() < config.low_contrast_prob:
        mean = tex.mean(dim=(1, 2), keepdim=True)
        tex = mean + _uniform(gen, 1, 0.1, 0.5) * (tex - mean)
    return tex.clamp(0, 1)


def _colorize(gen: torch.Generator, value: torch.Tensor) -> torch.Tensor:
    """Map a scalar field in [0, 1] to a ramp between two random colours."""
    c0, c1 = torch.rand(2, 3, 1, 1, generator=gen)
    return c0 * (1 - value) + c1 * value


def _noise_texture(gen: torch.Generator, size: int) -> torch.Tensor:
    """Multi-octave value noise: random grids upsampled bicubically, coarse octaves weighted more."""
    total = torch.zeros(1, 1, size, size)
    for octave in range(4):
        cells = int(torch.randint(2, max(3, size // (2 ** (3 - octave))), (1,), generator=gen))
        grid = torch.rand(1, 1, cells, cells, generator=gen)
        total += 0.6 ** octave * F.interpolate(grid, size=(size, size), mode="bicubic", align_corners=False)
    total = (total - total.min()) / (total.max() - total.min() + 1e-8)
    return _colorize(gen, total[0])


def _stripes(gen: torch.Generator, size: int) -> torch.Tensor:
    """Sinusoidal stripes, 4-40 px period (below Nyquist), random orientation, phase and sharpness."""
    period = _uniform(gen, 1, 4.0, 40.0)
    angle, phase = _uniform(gen, 1, 0, math.pi), _uniform(gen, 1, 0, 2 * math.pi)
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    wave = torch.sin(2 * math.pi * (xs * torch.cos(angle) + ys * torch.sin(angle)) / period + phase)
    sharp = _uniform(gen, 1, 1.0, 4.0)
    value = 0.5 + 0.5 * torch.tanh(sharp * wave) / torch.tanh(sharp)
    return _colorize(gen, value[None])


def _gradient(gen: torch.Generator, size: int) -> torch.Tensor:
    """Linear colour ramp in a random direction with faint noise on top (a ramp alone hides motion)."""
    angle = _uniform(gen, 1, 0, 2 * math.pi)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    ramp = (xs * torch.cos(angle) + ys * torch.sin(angle)) / 2.83 + 0.5
    return _colorize(gen, ramp[None]) + 0.15 * (_noise_texture(gen, size) - 0.5)


@functools.lru_cache(maxsize=1)
def _natural_pool() -> tuple[torch.Tensor, ...]:
    import skimage.data

    images = []
    for name in NATURAL_IMAGES:
        img = np.asarray(getattr(skimage.data, name)(), dtype=np.float32) / 255.0
        img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
        images.append(torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))))
    return tuple(images)


def _natural_crop(gen: torch.Generator, size: int) -> torch.Tensor:
    """A random crop of a scikit-image photo, rescaled (with antialiasing) to ``size``, maybe flipped."""
    pool = _natural_pool()
    img = pool[int(torch.randint(len(pool), (1,), generator=gen))]
    height, width = img.shape[-2:]
    crop = int(torch.randint(min(size // 2, height, width), min(height, width, 3 * size) + 1, (1,), generator=gen))
    top = int(torch.randint(height - crop + 1, (1,), generator=gen))
    left = int(torch.randint(width - crop + 1, (1,), generator=gen))
    patch = img[:, top:top + crop, left:left + crop][None]
    patch = F.interpolate(patch, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
    if torch.rand(1, generator=gen).item() < 0.5:
        patch = patch.flip(-1)
    return patch


def _blob_mask(gen: torch.Generator, config: SyntheticConfig, size: int) -> torch.Tensor:
    """Soft (1 px edge) star-shaped blob ``r(t) = r0 (1 + sum_k a_k cos(k t + p_k))`` near the centre."""
    r0 = _uniform(gen, 1, *config.object_size) * config.image_size / 2
    centre = size / 2 + (torch.rand(2, generator=gen) - 0.5) * config.image_size * 0.4
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                            indexing="ij")
    dx, dy = xs - centre[0], ys - centre[1]
    theta, rho = torch.atan2(dy, dx), torch.sqrt(dx ** 2 + dy ** 2)
    radius = torch.ones_like(theta)
    for k in range(2, 6):
        amp = _uniform(gen, 1, 0.0, 0.25 / (k - 1))
        radius = radius + amp * torch.cos(k * theta + _uniform(gen, 1, 0, 2 * math.pi))
    return (r0 * radius - rho + 0.5).clamp(0, 1)[None]
