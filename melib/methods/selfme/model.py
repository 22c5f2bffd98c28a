"""Fan et al. 2023, "SelfME: Self-Supervised Motion Learning for Micro-Expression Recognition": the networks.

Stage 1, the **motion learner** (Sec. 3.2, Fig. 2; after Siarohin et al.'s first-order motion model,
the paper's [35]): a keypoint detector ``F_kp`` (hourglass) finds K keypoints in the source and the
target frame (Eq. 1); each keypoint gives a local motion ``Phi^k = gamma (z_s^k - z_t^k)`` on a lattice
at 1/4 of the frame size (Eq. 2, gamma the motion-amplification factor); ``F_dense`` (hourglass) turns
the source warped by each local motion and the keypoint heatmaps (Eq. 3) into per-keypoint weights
``psi^k`` (Eq. 4) and the dense motion is ``sum_k psi^k Phi^k`` (Eq. 5); a generator warps the source's
features by it and decodes the estimated target. Losses (Eqs. 6-8) are in :mod:`melib.losses`.

Stage 2, **SCViT** (Sec. 3.3): a ViT (timm) on the motion field; its patch embeddings ``Phi_d`` (Eqs.
10-11) are regrouped into the upper-left, upper-right, bottom-left and bottom-right quarters and averaged
(Eqs. 12-13) for the symmetric contrastive loss (Eq. 14, :func:`melib.methods.selfme.losses.symmetric_contrastive`);
the class token goes through LN and a one-hidden-layer MLP (Eq. 15).

Choices where the paper is open (after FOMM, whose code the paper builds on):

- Coordinates are normalised to [-1, 1] (``grid_sample``, ``align_corners=True``); the motion is a
  *backward* displacement: the estimated target at u samples the source at ``u + Phi(u)``. The
  forward (onset -> apex) motion a flow method reports is approximately ``-Phi``.
- Eq. 3 as printed centres the heatmap on ``Phi^k``; FOMM's heatmap, used here, is the Gaussian at the
  target keypoint minus the Gaussian at the source keypoint (variance 0.01 in normalised units). A
  background "keypoint" with zero motion is added (k = 0), so static regions need not move.
- The hourglasses are U-Nets of ``num_blocks`` down/up blocks (conv3x3-BN-ReLU, 2x pooling /
  upsampling) with skip connections; the generator has two down-sampling blocks, so its features live
  on the 1/4 lattice, two residual blocks and two up-sampling blocks.
"""
from __future__ import annotations

from pathlib import Path

import timm
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from melib.methods.selfme.losses import SC_REGIONS

KP_VARIANCE = 0.01   # FOMM's keypoint heatmap variance (normalised coordinates)
LATTICE_SCALE = 0.25  # Eq. 2: the lattice U is 1/4 of the frame size


def make_grid(h: int, w: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> Tensor:
    """``(h, w, 2)`` normalised (x, y) coordinates in [-1, 1] (``align_corners=True``)."""
    ys = torch.linspace(-1, 1, h, device=device, dtype=dtype)
    xs = torch.linspace(-1, 1, w, device=device, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], dim=-1)


def warp(image: Tensor, displacement: Tensor) -> Tensor:
    """Sample ``image`` (B, C, H, W) at ``u + displacement(u)``; ``displacement`` (B, 2, h, w) in
    normalised units sets the output size (bilinear, border padding)."""
    b, _, h, w = displacement.shape
    grid = make_grid(h, w, displacement.device, displacement.dtype)[None] + displacement.permute(0, 2, 3, 1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


class _Block(nn.Sequential):
    def __init__(self, c_in: int, c_out: int):
        super().__init__(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Hourglass(nn.Module):
    """U-Net-style encoder-decoder; output = input channels + ``expansion`` (FOMM's Hourglass)."""

    def __init__(self, in_channels: int, expansion: int = 32, num_blocks: int = 3, max_features: int = 256):
        super().__init__()
        widths = [min(max_features, expansion * 2 ** (i + 1)) for i in range(num_blocks)]
        self.down = nn.ModuleList(_Block(c, o) for c, o in zip([in_channels, *widths[:-1]], widths))
        ups_in = [widths[-1]] + [2 * widths[i] for i in range(num_blocks - 2, -1, -1)]
        ups_out = [widths[i] for i in range(num_blocks - 2, -1, -1)] + [expansion]
        self.up = nn.ModuleList(_Block(c, o) for c, o in zip(ups_in, ups_out))
        self.out_channels = in_channels + expansion

    def forward(self, x: Tensor) -> Tensor:
        skips = [x]
        for block in self.down:
            skips.append(F.avg_pool2d(block(skips[-1]), 2))
        out = skips.pop()
        for block in self.up:
            out = block(F.interpolate(out, scale_factor=2, mode="nearest"))
            out = torch.cat([out, skips.pop()], dim=1)
        return out


class KeypointDetector(nn.Module):
    """``F_kp`` (Eq. 1): K keypoints ``(B, K, 2)`` in normalised (x, y) as the expectation of a spatial
    softmax of K hourglass heatmaps, computed at ``scale`` of the frame size."""

    def __init__(self, num_kp: int = 10, channels: int = 3, expansion: int = 32, num_blocks: int = 3,
                 temperature: float = 0.1, scale: float = LATTICE_SCALE):
        super().__init__()
        self.hourglass = Hourglass(channels, expansion, num_blocks)
        self.head = nn.Conv2d(self.hourglass.out_channels, num_kp, 7, padding=3)
        self.temperature, self.scale = temperature, scale

    def forward(self, frame: Tensor) -> Tensor:
        x = F.interpolate(frame, scale_factor=self.scale, mode="bilinear", align_corners=False) if self.scale != 1 else frame
        logits = self.head(self.hourglass(x)) / self.temperature
        b, k, h, w = logits.shape
        heat = torch.softmax(logits.flatten(2), dim=-1).view(b, k, h, w, 1)
        return (heat * make_grid(h, w, frame.device, frame.dtype)[None, None]).sum(dim=(2, 3))


class DenseMotion(nn.Module):
    """Eqs. 2-5: local motions, heatmaps, aligned frames, weights ``psi`` and the dense motion on the lattice."""

    def __init__(self, num_kp: int = 10, channels: int = 3, expansion: int = 32, num_blocks: int = 3):
        super().__init__()
        self.num_kp = num_kp
        self.hourglass = Hourglass((num_kp + 1) * (channels + 1), expansion, num_blocks)
        self.mask = nn.Conv2d(self.hourglass.out_channels, num_kp + 1, 7, padding=3)

    def forward(self, source: Tensor, kp_source: Tensor, kp_target: Tensor, gamma: float = 1.0) -> dict[str, Tensor]:
        """``source`` (B, C, h, w) at lattice size, keypoints (B, K, 2) -> ``motion`` (B, 2, h, w)
        (normalised, Eq. 5), ``weights`` psi (B, K+1, h, w), ``local`` (B, K+1, 2) (Eq. 2, k = 0 background)."""
        b, c, h, w = source.shape
        local = gamma * (kp_source - kp_target)                                         # Eq. 2
        local = torch.cat([torch.zeros_like(local[:, :1]), local], dim=1)               # (B, K+1, 2)
        grid = make_grid(h, w, source.device, source.dtype)[None, None]                 # (1, 1, h, w, 2)
        gauss = lambda kp: torch.exp(-((grid - kp[:, :, None, None]) ** 2).sum(-1) / (2 * KP_VARIANCE))  # noqa: E731
        heat = gauss(kp_target) - gauss(kp_source)                                      # Eq. 3 (FOMM)
        heat = torch.cat([torch.zeros_like(heat[:, :1]), heat], dim=1)[:, :, None]      # (B, K+1, 1, h, w)
        k1 = self.num_kp + 1
        displacement = local[:, :, :, None, None].expand(b, k1, 2, h, w).reshape(b * k1, 2, h, w)
        aligned = warp(source.repeat_interleave(k1, dim=0), displacement).view(b, k1, c, h, w)
        x = torch.cat([heat, aligned], dim=2).view(b, k1 * (c + 1), h, w)
        weights = torch.softmax(self.mask(self.hourglass(x)), dim=1)                    # Eq. 4
        motion = torch.einsum("bkhw,bkc->bchw", weights, local)                         # Eq. 5
        return {"motion": motion, "weights": weights, "local": local}


class Generator(nn.Module):
    """Warps the source's 1/4-resolution features by the dense motion and decodes the estimated target."""

    def __init__(self, channels: int = 3, expansion: int = 32, max_features: int = 256):
        super().__init__()
        c1, c2 = min(max_features, expansion * 2), min(max_features, expansion * 4)
        self.first = _Block(channels, expansion)
        self.down = nn.Sequential(_Block(expansion, c1), nn.AvgPool2d(2), _Block(c1, c2), nn.AvgPool2d(2))
        self.res = nn.ModuleList(nn.Sequential(_Block(c2, c2), nn.Conv2d(c2, c2, 3, padding=1)) for _ in range(2))
        self.up = nn.Sequential(nn.Upsample(scale_factor=2), _Block(c2, c1), nn.Upsample(scale_factor=2), _Block(c1, expansion))
        self.final = nn.Conv2d(expansion, channels, 7, padding=3)

    def forward(self, source: Tensor, motion: Tensor) -> Tensor:
        features = self.down(self.first(source))
        if features.shape[2:] != motion.shape[2:]:
            motion = F.interpolate(motion, size=features.shape[2:], mode="bilinear", align_corners=True)
        x = warp(features, motion)
        for block in self.res:
            x = x + block(x)
        return torch.sigmoid(self.final(self.up(x)))


class MotionLearner(nn.Module):
    """SelfME's self-supervised motion learner (Sec. 3.2): ``F_kp``, ``F_dense`` and the generator.

    Frames are ``(B, C, S, S)`` in [0, 1] with S divisible by 4; the motion lives on the ``S/4`` lattice.
    """

    def __init__(self, num_kp: int = 10, channels: int = 3, expansion: int = 32, num_blocks: int = 3):
        super().__init__()
        self.kp_detector = KeypointDetector(num_kp, channels, expansion, num_blocks)
        self.dense_motion = DenseMotion(num_kp, channels, expansion, num_blocks)
        self.generator = Generator(channels, expansion)

    def motion(self, source: Tensor, target: Tensor, gamma: float = 1.0) -> dict[str, Tensor]:
        """Keypoints of both frames and the dense motion (normalised units, on the 1/4 lattice)."""
        kp_s, kp_t = self.kp_detector(source), self.kp_detector(target)
        small = F.interpolate(source, scale_factor=LATTICE_SCALE, mode="bilinear", align_corners=False)
        return {"kp_source": kp_s, "kp_target": kp_t, **self.dense_motion(small, kp_s, kp_t, gamma)}

    def forward(self, source: Tensor, target: Tensor, gamma: float = 1.0) -> dict[str, Tensor]:
        out = self.motion(source, target, gamma)
        out["prediction"] = self.generator(source, out["motion"])
        return out

    @staticmethod
    def to_pixels(motion: Tensor, size: tuple[int, int]) -> Tensor:
        """Normalised displacement -> pixels of a ``size = (H, W)`` frame (``align_corners=True``)."""
        h, w = size
        scale = torch.tensor([(w - 1) / 2, (h - 1) / 2], dtype=motion.dtype, device=motion.device)
        return motion * scale.view(1, 2, 1, 1)


class RandomTPS:
    """The random thin-plate-spline transform ``T_rand`` of Eq. 7 (FOMM's ``Transform``): an affine part
    ``N(0, sigma_affine)`` around the identity plus a TPS on a ``points x points`` control grid with
    weights ``N(0, sigma_tps)``. :meth:`warp_coordinates` maps normalised points, :meth:`transform_frame`
    resamples a frame so that ``frame'(u) = frame(T(u))``."""

    def __init__(self, batch: int, sigma_affine: float = 0.05, sigma_tps: float = 0.005, points: int = 5,
                 generator: torch.Generator | None = None, device: torch.device | None = None):
        noise = torch.randn(batch, 2, 3, generator=generator) * sigma_affine
        self.theta = (noise + torch.eye(2, 3)[None]).to(device)
        self.control = make_grid(points, points).view(1, -1, 2).to(device)
        self.params = (torch.randn(batch, 1, points * points, generator=generator) * sigma_tps).to(device)

    def warp_coordinates(self, coords: Tensor) -> Tensor:
        """``(B, N, 2)`` normalised points -> their images under T."""
        theta = self.theta.to(coords)
        out = torch.einsum("bij,bnj->bni", theta[:, :, :2], coords) + theta[:, None, :, 2]
        dist = (coords[:, :, None] - self.control.to(coords)[:, None]).abs().sum(-1)  # (B, N, P) L1 as FOMM
        rbf = dist ** 2 * torch.log(dist + 1e-6)
        return out + (rbf * self.params.to(coords)).sum(-1, keepdim=True)

    def transform_frame(self, frame: Tensor) -> Tensor:
        b, _, h, w = frame.shape
        grid = make_grid(h, w, frame.device, frame.dtype).view(1, -1, 2).expand(b, -1, -1)
        mapped = self.warp_coordinates(grid).view(b, h, w, 2)
        return F.grid_sample(frame, mapped, mode="bilinear", padding_mode="reflection", align_corners=True)


# ---------------------------------------------------------------------------------------------------
# SCViT (Sec. 3.3)
# ---------------------------------------------------------------------------------------------------

PAPER_VIT = "vit_small_patch16_224"   # ViT-S/16 (Sec. 4.3)
#: melib's CPU stand-in: a 4-block, 192-wide ViT with 8-px patches at 64 px (an 8 x 8 patch grid).
FAST_VIT = {"name": "vit_tiny_patch16_224", "img_size": 64, "patch_size": 8, "depth": 4}


class SCViT(nn.Module):
    """Symmetric contrastive ViT: a timm ViT on the motion, quarter-region patch embeddings (Eqs. 12-13)
    and the class head ``MLP(LN(z_cls))`` with one hidden layer (Eq. 15).

    ``weights``: ``"none"`` (random), ``"imagenet"`` (timm download, needs internet) or a state-dict file;
    :attr:`weights_description` says which. The patch grid must have an even number of rows and columns.
    ``sc_features="patch_embed"`` takes the regions from the patch embeddings ``Phi_d`` as Eqs. 10-13
    print; ``"tokens"`` from the last block's patch tokens (a variant the paper does not test).
    """

    def __init__(self, num_classes: int = 3, model_name: str = PAPER_VIT, weights: str | Path = "none",
                 in_chans: int = 3, sc_features: str = "patch_embed", **timm_kwargs):
        super().__init__()
        from melib.models.backbones import create_backbone

        if sc_features not in ("patch_embed", "tokens"):
            raise ValueError(f"sc_features must be 'patch_embed' or 'tokens', got {sc_features!r}")
        self.vit, dim, description = create_backbone(model_name, weights, in_chans=in_chans, global_pool="token",
                                                     **timm_kwargs)
        grid = tuple(self.vit.patch_embed.grid_size)
        if grid[0] % 2 or grid[1] % 2:
            raise ValueError(f"SCViT needs an even patch grid to form quarters; {model_name} with {timm_kwargs} "
                             f"gives {grid}")
        self.grid_size, self.sc_features = grid, sc_features
        self.image_size = tuple(self.vit.patch_embed.img_size)
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, num_classes))  # Eq. 15's MLP
        self.weights_description = f"SCViT {description}; class MLP random init"

    def regions(self, patches: Tensor) -> Tensor:
        """Eqs. 12-13: ``(B, N, D)`` row-major patch embeddings -> ``(B, 4, D)`` means over UL, UR, BL, BR."""
        h, w = self.grid_size
        x = patches.view(patches.shape[0], h, w, -1)
        quarters = [x[:, :h // 2, :w // 2], x[:, :h // 2, w // 2:], x[:, h // 2:, :w // 2], x[:, h // 2:, w // 2:]]
        return torch.stack([q.mean(dim=(1, 2)) for q in quarters], dim=1)

    def forward(self, motion: Tensor) -> dict[str, Tensor]:
        """``(B, C, H, W)`` motion images -> ``logits`` (B, classes), ``regions`` (B, 4, D) and
        ``features`` (B, D), the normalised class token."""
        vit = self.vit
        embedded = vit.patch_embed(motion)                      # Phi_d, Eqs. 10-11 (B, N, D)
        x = vit.norm_pre(vit._pos_embed(embedded))
        x = vit.norm(vit.blocks(x))
        z_cls = x[:, 0]                                         # LN(z_cls): timm's final norm is Eq. 15's LN
        source = embedded if self.sc_features == "patch_embed" else x[:, vit.num_prefix_tokens:]
        return {"logits": self.head(z_cls), "regions": self.regions(source), "features": z_cls}


__all__ = ["DenseMotion", "FAST_VIT", "Generator", "Hourglass", "KeypointDetector", "MotionLearner", "PAPER_VIT",
           "RandomTPS", "SCViT", "SC_REGIONS", "make_grid", "warp"]
