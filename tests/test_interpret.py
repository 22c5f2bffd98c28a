"""Grad-CAM (melib.interpret) on networks whose answer is known."""
import pytest
import torch
from torch import nn

from melib.interpret import grad_cam


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1, bias=False)
        nn.init.ones_(self.conv.weight)

    def forward(self, x):
        return self.conv(x).flatten(1).sum(1)


def test_grad_cam_peaks_where_the_evidence_is_and_is_scaled_per_sample():
    x = torch.zeros(2, 1, 16, 12)
    x[0, 0, 2:5, 1:4] = 1.0      # sample 0: evidence top-left
    x[1, 0, 10:14, 7:11] = 3.0   # sample 1: bottom-right, stronger
    net = _Net()
    cam = grad_cam(net, x, [net.conv], score=lambda out: out)
    assert cam.shape == (2, 16, 12) and cam.min() >= 0 and cam.max() <= 1
    for b, (rows, cols) in enumerate(((slice(2, 5), slice(1, 4)), (slice(10, 14), slice(7, 11)))):
        assert cam[b, rows, cols].min() == pytest.approx(1.0)  # each sample scaled to its own maximum
        assert cam[b].sum() == pytest.approx(cam[b, rows, cols].sum())  # nothing outside the evidence
    assert net.conv.weight.grad is None  # the model's own gradients are left untouched


def test_grad_cam_is_zero_where_the_evidence_speaks_against_the_score():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 3, 3] = 1.0
    net = _Net()
    assert grad_cam(net, x, [net.conv], score=lambda out: -out).abs().max() == 0


def test_grad_cam_stacks_one_band_per_layer():
    class Two(nn.Module):
        def __init__(self):
            super().__init__()
            self.top, self.bottom = nn.Conv2d(1, 1, 1, bias=False), nn.Conv2d(1, 1, 1, bias=False)
            nn.init.ones_(self.top.weight)
            nn.init.ones_(self.bottom.weight)

        def forward(self, x):
            h = x.shape[2] // 2
            return self.top(x[:, :, :h]).flatten(1).sum(1) + self.bottom(x[:, :, h:]).flatten(1).sum(1)

    x = torch.zeros(1, 1, 8, 6)
    x[0, 0, 1, 1] = 1.0   # upper half
    x[0, 0, 6, 4] = 1.0   # lower half
    net = Two()
    cam = grad_cam(net, x, [net.top, net.bottom], score=lambda out: out)
    assert cam.shape == (1, 8, 6)
    assert cam[0, 1, 1] == pytest.approx(1.0) and cam[0, 6, 4] == pytest.approx(1.0)


def test_vit_reshape_maps_patch_tokens_to_their_grid_cell_and_drops_the_class_token():
    from melib.interpret import vit_reshape

    class TokenNet(nn.Module):
        """Patchify a 1-channel 8x8 image into 2x2 patches (a 4x4 grid), prepend a class token, score the sum."""

        def __init__(self):
            super().__init__()
            self.embed = nn.Identity()

        def forward(self, x):
            b = x.shape[0]
            patches = x.unfold(2, 2, 2).unfold(3, 2, 2).reshape(b, 16, 4)          # row-major grid cells
            tokens = self.embed(torch.cat([torch.full((b, 1, 4), 5.0), patches], dim=1))
            return tokens[:, 1:].sum(dim=(1, 2))

    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 4:6, 2:4] = 1.0  # grid cell (row 2, column 1)
    net = TokenNet()
    cam = grad_cam(net, x, [net.embed], score=lambda out: out, size=(4, 4), reshape=vit_reshape((4, 4)))
    assert cam.shape == (1, 4, 4) and cam[0, 2, 1] == pytest.approx(1.0) and cam.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="tokens"):
        vit_reshape((3, 3))(torch.zeros(1, 17, 4))
