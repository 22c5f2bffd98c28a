"""The two-frame magnification network of Oh et al., "Learning-based Video Motion Magnification",
ECCV 2018, Sec. 3.1 and Fig. 2: encoder -> manipulator (Eq. 1) -> decoder.

Images enter in ``[-1, 1]`` (the authors' convention), ``(B, 3, H, W)``. Channel widths are the
paper's defaults (16 / 32 / 64) times ``width``; block counts default to the authors' released
configuration (3 encoder, 2 texture, 2 shape, 1 manipulator and 9 decoder residual blocks).
All convolutions use reflect padding.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: The texture representation is 4x smaller than the image, so H and W are padded to this multiple.
SIZE_MULTIPLE = 4


def conv(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    """``kernel x kernel`` convolution with reflect padding ("same" size at stride 1)."""
    return nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, padding_mode="reflect")


class ResBlock(nn.Module):
    """Residual block without normalisation: ``x + conv(relu(conv(x)))`` (paper Fig. 2)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv(channels, channels, 3), nn.ReLU(inplace=True), conv(channels, channels, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def res_blocks(channels: int, n: int) -> list[nn.Module]:
    return [ResBlock(channels) for _ in range(n)]


class Encoder(nn.Module):
    """Frame -> (texture V at 1/4 resolution, shape M at 1/2 resolution), Sec. 3.1 "Encoder".

    Shared trunk: conv7x7(c16) - ReLU - conv3x3/2(c32) - ReLU - ``n_common`` ResBlocks.
    Texture branch: conv3x3/2(c32) - ReLU - ``n_texture`` ResBlocks (downsampled, because texture
    needs less spatial detail). Shape branch: ``n_shape`` ResBlocks (the authors' released model has
    no extra convolution here).
    """

    def __init__(self, c16: int, c32: int, n_common: int, n_texture: int, n_shape: int):
        super().__init__()
        self.trunk = nn.Sequential(conv(3, c16, 7), nn.ReLU(inplace=True), conv(c16, c32, 3, stride=2),
                                   nn.ReLU(inplace=True), *res_blocks(c32, n_common))
        self.texture = nn.Sequential(conv(c32, c32, 3, stride=2), nn.ReLU(inplace=True),
                                     *res_blocks(c32, n_texture))
        self.shape = nn.Sequential(*res_blocks(c32, n_shape))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.trunk(x)
        return self.texture(features), self.shape(features)


class Manipulator(nn.Module):
    """Eq. (1): ``G_m(M_a, M_b, alpha) = M_a + h(alpha * g(M_b - M_a))``.

    ``g`` is conv3x3 + ReLU and ``h`` is conv3x3 followed by ``n_blocks`` ResBlocks (Sec. 3.1): the
    non-linearities let the network magnify a representation that is not linear in the motion.
    """

    def __init__(self, c32: int, n_blocks: int):
        super().__init__()
        self.g = nn.Sequential(conv(c32, c32, 3), nn.ReLU(inplace=True))
        self.h = nn.Sequential(conv(c32, c32, 3), *res_blocks(c32, n_blocks))

    def forward(self, shape_a: torch.Tensor, shape_b: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
        alpha = alpha.reshape(-1, 1, 1, 1).to(shape_a)
        return shape_a + self.h(alpha * self.g(shape_b - shape_a))


class Decoder(nn.Module):
    """(texture, magnified shape) -> frame, Sec. 3.1 "Decoder".

    Texture: nearest 2x upsampling - conv3x3(c32) - ReLU; concatenated with the shape (2*c32 channels);
    ``n_blocks`` ResBlocks; nearest 2x upsampling - conv3x3(c32) - ReLU - conv7x7(3).
    """

    def __init__(self, c32: int, n_blocks: int):
        super().__init__()
        self.texture_up = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), conv(c32, c32, 3),
                                        nn.ReLU(inplace=True))
        self.body = nn.Sequential(*res_blocks(2 * c32, n_blocks), nn.Upsample(scale_factor=2, mode="nearest"),
                                  conv(2 * c32, c32, 3), nn.ReLU(inplace=True), conv(c32, 3, 7))

    def forward(self, texture: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([self.texture_up(texture), shape], dim=1))


class MagNet(nn.Module):
    """Oh et al. (2018) two-frame magnifier: ``MagNet(x_a, x_b, alpha)`` magnifies the motion a -> b.

    The output shows the texture of ``x_b`` with the motion from ``x_a`` scaled by ``alpha``
    (``alpha = 1`` reproduces ``x_b``). Any ``H x W`` works: the input is reflect-padded to a
    multiple of 4 and the output cropped back.

    Parameters
    ----------
    width : multiplier of the paper's channel widths (1.0 = 16/32/64 channels).
    enc_blocks, texture_blocks, shape_blocks, manip_blocks, dec_blocks : residual-block counts.
    """

    def __init__(self, width: float = 1.0, enc_blocks: int = 3, texture_blocks: int = 2, shape_blocks: int = 2,
                 manip_blocks: int = 1, dec_blocks: int = 9):
        super().__init__()
        if width <= 0:
            raise ValueError(f"width must be > 0; got {width}")
        c16, c32 = max(1, round(16 * width)), max(1, round(32 * width))
        self.encoder = Encoder(c16, c32, enc_blocks, texture_blocks, shape_blocks)
        self.manipulator = Manipulator(c32, manip_blocks)
        self.decoder = Decoder(c32, dec_blocks)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(texture, shape) of frames whose size is already a multiple of :data:`SIZE_MULTIPLE`."""
        return self.encoder(x)

    def render(self, texture_b: torch.Tensor, shape_a: torch.Tensor, shape_b: torch.Tensor,
               alpha: torch.Tensor) -> torch.Tensor:
        """Decode the texture of frame b with the magnified shape (Eq. 1)."""
        return self.decoder(texture_b, self.manipulator(shape_a, shape_b, alpha))

    def forward(self, x_a: torch.Tensor, x_b: torch.Tensor, alpha: torch.Tensor | float) -> torch.Tensor:
        if x_a.shape != x_b.shape or x_a.ndim != 4 or x_a.shape[1] != 3:
            raise ValueError(f"x_a and x_b must both be (B, 3, H, W); got {tuple(x_a.shape)} and {tuple(x_b.shape)}")
        alpha = torch.as_tensor(alpha, dtype=x_a.dtype, device=x_a.device).expand(x_a.shape[0])
        height, width = x_a.shape[-2:]
        both = pad_to_multiple(torch.cat([x_a, x_b]), SIZE_MULTIPLE)
        texture, shape = self.encode(both)
        batch = x_a.shape[0]
        out = self.render(texture[batch:], shape[:batch], shape[batch:], alpha)
        return out[..., :height, :width]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad the bottom/right of ``(B, C, H, W)`` up to a multiple of ``multiple`` (and at least 2x it).

    Reflect padding where the image is large enough, replicate padding otherwise.
    """
    height, width = x.shape[-2:]
    pad_h = max(-height % multiple, 2 * multiple - height)
    pad_w = max(-width % multiple, 2 * multiple - width)
    if pad_h == 0 and pad_w == 0:
        return x
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
