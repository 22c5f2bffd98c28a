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
