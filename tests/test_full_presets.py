"""The papers' settings, one parameter away and runnable (issue 24 item 6).

Each method's ``full`` preset builds the paper's network (IICL: SE-ResNet-50 on 224 px crops; Micro-AU
CLIP: ViT-B/32 CLIP with its text tower; annotation mimic: the dual-branch ResNet-18 at 224 px; SelfME:
the 256 px motion learner and SCViT's ViT-S/16 at 224 px) and takes one optimiser step on a batch of 2
random samples through the method's own ``training_step`` and the harness's optimiser
(:func:`melib.train.make_optimizer`), as :func:`melib.train.fit_step` does. Then the weight files users
have (timm / torchvision ResNet-18, timm SE-ResNet, open_clip ViT-B-32, timm ViT-S/16; made here with
random init) load through each method's ``weights`` field with every backbone tensor matched.
"""
from __future__ import annotations

import math
import time

import open_clip
import pytest
import timm
import torch
import torchvision

from melib import train
from melib.face.template import TEMPLATE_68
from melib.methods import annotation_mimic as mimic
from melib.methods import iicl
from melib.methods import micro_au_clip as mac
from melib.methods import selfme as sm
from melib.methods.annotation_mimic.losses import class_weights
from melib.methods.selfme.model import MotionLearner
from melib.models.backbones import create_backbone, report_weights

BATCH = 2


def _one_step(method, model: torch.nn.Module, schedule: train.Schedule, batch: dict) -> dict[str, float]:
    """One step of the harness's loop (:func:`melib.train.fit_step`): the method's loss, backward, the
    schedule's optimiser; asserts a finite loss and that some trainable parameter moved."""
    model.train()
    optimizer, _ = train.make_optimizer(model, schedule, method)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    losses = train.fit_step(method, model, batch, optimizer, torch.device("cpu"), schedule)
    values = {k: float(v.detach()) for k, v in losses.items()}
    assert all(math.isfinite(v) for v in values.values()), values
    moved = [n for n, p in model.named_parameters() if n in before and not torch.equal(p.detach(), before[n])]
    assert moved, "no parameter changed after one optimiser step"
    return values


def _images(size: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(BATCH, 3, size, size, generator=torch.Generator().manual_seed(seed))


def _timed(record_property, start: float) -> None:
    record_property("seconds", round(time.perf_counter() - start, 1))


# ----- full presets: one training step each ---------------------------------------------------------

@pytest.mark.slow
def test_iicl_full_preset_trains_one_step(record_property):
    start = time.perf_counter()
    cfg, schedule, _ = iicl.preset("full")
    assert (cfg.backbone_size, cfg.crop_size, cfg.variant) == ("50", 224, "iicl")
    method = iicl.IICLMethod(cfg, cache=None)
    torch.manual_seed(0)
    model = method.build_model()
    assert model.weights_description.startswith("seresnet50:")
    frames = _images(cfg.crop_size)
    batch = {name: frames + 0.05 * _images(cfg.crop_size, seed=i + 1)
             for i, name in enumerate(("onset", "close", "apex"))}
    batch["aus"] = torch.tensor([[1, 0, 1, 0, 0, 0, 0, 0], [0, 1, 0, 0, 1, 0, 0, 0]], dtype=torch.float32)
    assert batch["aus"].shape[1] == len(cfg.aus)
    losses = _one_step(method, model, schedule, batch)
    assert set(losses) >= {"loss", "bce_apex", "na"}
    _timed(record_property, start)


@pytest.mark.slow
def test_micro_au_clip_full_preset_trains_one_step(record_property):
    start = time.perf_counter()
    cfg, schedule, _ = mac.preset("full")
    assert (cfg.model_name, cfg.image_size, cfg.miaucl) == ("ViT-B-32", 224, "shared")
    method = mac.MicroAUCLIPMethod(cfg, cache=None)
    torch.manual_seed(0)
    model = method.build_model()
    assert model.clip.visual.transformer.width == 768 and model.clip.transformer.width == 512  # ViT-B/32 + text
    size = cfg.image_size
    face = torch.tensor(TEMPLATE_68, dtype=torch.float32) * (size - 16) + 8
    batch = {"image": _images(size), "landmarks": face[None].repeat(BATCH, 1, 1),
             "aus": torch.zeros(BATCH, len(cfg.aus))}
    batch["aus"][0, 0] = batch["aus"][1, 3] = 1
    # the step trains the last blocks of both towers (MiAUCL reaches the text tower)
    text_last = model.clip.transformer.resblocks[-1].mlp.c_fc.weight
    text_before = text_last.detach().clone()
    losses = _one_step(method, model, schedule, batch)
    assert set(losses) >= {"loss", "multitask", "miaucl", "gd"}
    assert not torch.equal(text_last.detach(), text_before)
    _timed(record_property, start)


@pytest.mark.slow
def test_annotation_mimic_full_preset_trains_one_step(record_property):
    start = time.perf_counter()
    cfg, schedule, _ = mimic.preset("full")
    assert (cfg.variant, cfg.image_size, schedule.batch_size) == ("db+all", 224, 128)
    classes, aus = ["negative", "positive", "surprise"], (1, 2, 4, 7, 12, 14, 15, 17)
    method = mimic.MimicMethod(cfg, None, classes, aus)
    labels = torch.tensor([0, 2])
    method.weights = class_weights(labels, len(classes))  # what datasets() sets from the fold
    torch.manual_seed(0)
    model = method.build_model()
    batch = {"image": _images(cfg.image_size), "label": labels,
             "aus": torch.tensor([[1, 0, 1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0, 0, 0]], dtype=torch.float32)}
    losses = _one_step(method, model, schedule, batch)
    assert "wscl" in losses
    _timed(record_property, start)


def test_annotation_mimic_full_schedule_ends_mid_cycle_as_the_paper_says():
    """The paper (Sec. 4.3) fixes 100 epochs with T0 = 10, T_mult = 2: restarts after epochs 10, 30 and
    70, so the last epoch trains 30 epochs into the fourth (80-epoch) cycle at about 71 % of the peak lr."""
    _, schedule, _ = mimic.preset("full")
    assert (schedule.epochs, schedule.t_0, schedule.t_mult, schedule.scheduler) == (100, 10, 2, "cosine_restarts")
    optimizer, scheduler = train.make_optimizer(torch.nn.Linear(1, 1), schedule)
    lrs = []
    for _ in range(schedule.epochs):  # the harness logs the lr an epoch trained with, then steps
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    restarts = [e for e in range(1, schedule.epochs) if lrs[e] > lrs[e - 1]]
    assert restarts == [10, 30, 70]
    assert lrs[-1] == pytest.approx(schedule.lr * (1 + math.cos(math.pi * 29 / 80)) / 2)
    assert lrs[-1] / schedule.lr == pytest.approx(0.709, abs=1e-3)


@pytest.mark.slow
def test_selfme_full_preset_motion_learner_trains_one_step(record_property):
    """Stage 1 at the paper's 256 px: :func:`melib.methods.selfme.learner_losses` (Eq. 8) with the
    optimiser of :func:`melib.methods.selfme.train_motion_learner`."""
    start = time.perf_counter()
    cfg, _, _ = sm.preset("full")
    assert (cfg.frame_size, cfg.num_kp, cfg.expansion, cfg.reconstruction) == (256, 10, 32, "pyramid")
    torch.manual_seed(0)
    model = MotionLearner(cfg.num_kp, 3, cfg.expansion).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.learner_lr, betas=(0.5, 0.999))
    source = torch.rand(BATCH, 3, cfg.frame_size, cfg.frame_size, generator=torch.Generator().manual_seed(0))
    target = (source + 0.02 * torch.randn_like(source)).clamp(0, 1)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    rec, eqv = sm.learner_losses(model, source, target, cfg, torch.Generator().manual_seed(0))
    optimizer.zero_grad(set_to_none=True)
    (rec + eqv).backward()
    optimizer.step()
    assert math.isfinite(rec.item()) and math.isfinite(eqv.item())
    assert any(not torch.equal(p.detach(), before[n]) for n, p in model.named_parameters())
    _timed(record_property, start)


@pytest.mark.slow
def test_selfme_full_preset_scvit_trains_one_step(record_property):
    start = time.perf_counter()
    cfg, schedule, _ = sm.preset("full")
    assert (cfg.vit, cfg.vit_image_size, cfg.vit_patch_size, cfg.vit_depth) == ("vit_small_patch16_224", 224, 16, 12)
    method = sm.SelfMEMethod(cfg, cache=None)
    torch.manual_seed(0)
    model = method.build_model()
    assert model.grid_size == (14, 14)
    batch = {"motion": _images(cfg.vit_image_size), "label": torch.tensor([0, 1])}
    losses = _one_step(method, model, schedule, batch)
    assert set(losses) == {"loss", "cls", "sc"}
    _timed(record_property, start)


# ----- weight files users have: every tensor matched ------------------------------------------------

def _assert_loaded(module: torch.nn.Module, state: dict[str, torch.Tensor], skip: tuple[str, ...] = ()) -> None:
    """Every tensor of ``state`` (except keys starting with ``skip``) equals ``module``'s, and every
    tensor of ``module`` came from ``state``."""
    own = module.state_dict()
    kept = {k: v for k, v in state.items() if not k.startswith(skip)}
    assert sorted(own) == sorted(kept)
    for name, value in kept.items():
        assert torch.equal(own[name], value), name


def _wrapped(state: dict[str, torch.Tensor], how: str) -> object:
    if how == "raw":
        return state
    if how == "module.":  # DataParallel / DistributedDataParallel
        return {f"module.{k}": v for k, v in state.items()}
    return {how: state, "epoch": 3}  # a training checkpoint: {"state_dict": ...} or {"model": ...}


WRAPPERS = ("raw", "module.", "state_dict", "model")


@pytest.mark.parametrize("name,source,how", [
    *[(name, source, how) for name, source in (("resnet18", "torchvision"), ("resnet18", "timm"),
                                               ("seresnet18", "timm")) for how in WRAPPERS],
    ("seresnet50", "timm", "raw")])  # the wrappers are checked on the smaller networks
def test_resnet_files_load_with_every_tensor(tmp_path, name, source, how):
    """torchvision's ResNet-18 and timm's ResNet/SE-ResNet state dicts (with the ImageNet classifier
    ``fc``, dropped: the methods put their own heads on pooled features)."""
    torch.manual_seed(0)
    net = torchvision.models.resnet18() if source == "torchvision" else timm.create_model(name)
    state = net.state_dict()
    path = tmp_path / f"{name}.pth"
    torch.save(_wrapped(state, how), path)
    backbone, _, description = create_backbone(name, weights=path)
    assert f"all {len(backbone.state_dict())} tensors loaded" in description
    assert "dropped classifier keys ['fc.weight', 'fc.bias']" in description
    _assert_loaded(backbone, state, skip=("fc.",))


def test_iicl_and_mimic_take_resnet_files_through_their_weights_field(tmp_path, capsys):
    """IICL's SE-ResNet (``IICLConfig.weights``) and annotation mimic's ResNet-18 (``MimicConfig.weights``,
    a torchvision file: both branches start from its layer3-4)."""
    torch.manual_seed(0)
    se_state = timm.create_model("seresnet18").state_dict()
    tv_state = torchvision.models.resnet18().state_dict()
    torch.save(se_state, tmp_path / "seresnet18.pth")
    torch.save({"state_dict": tv_state}, tmp_path / "resnet18_torchvision.pth")

    cfg, _, _ = iicl.preset("fast", weights=str(tmp_path / "seresnet18.pth"))
    model = iicl.IICLMethod(cfg, cache=None).build_model()
    assert "all" in report_weights(model) and "weights from file" in capsys.readouterr().out
    _assert_loaded(model.backbone, se_state, skip=("fc.",))

    cfg, _, _ = mimic.preset("fast", weights=str(tmp_path / "resnet18_torchvision.pth"))
    model = mimic.MimicMethod(cfg, None, ["a", "b", "c"], (1, 2)).build_model()
    assert "weights from file" in model.weights_description
    for part in (model.base, model.eyes_branch, model.mouth_branch):
        for key, value in part.state_dict().items():
            if ".se." not in key:  # Shuffle Attention is new (random init), not in any ResNet file
                assert torch.equal(value, tv_state[key]), key


def test_a_resnet_file_for_another_network_fails_naming_the_file_and_keys(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    with pytest.raises(ValueError, match=r"resnet18\.pth does not fit backbone 'seresnet18'.*missing \d+ \(e\.g\."):
        create_backbone("seresnet18", weights=path)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["raw", "module.", "model"])
def test_open_clip_vit_b_32_file_loads_with_every_tensor(tmp_path, how, capsys):
    """An ``open_clip.create_model('ViT-B-32').state_dict()`` file through ``MicroAUCLIPConfig.weights``:
    every CLIP tensor (both towers, ``logit_scale``) loaded."""
    torch.manual_seed(0)
    state = open_clip.create_model("ViT-B-32", pretrained=None).state_dict()
    path = tmp_path / "vit_b_32.pt"
    torch.save(_wrapped(state, how), path)
    cfg, _, _ = mac.preset("full", weights=str(path))
    model = mac.build_model(cfg, verbose=True)
    out = capsys.readouterr().out
    assert f"CLIP weights from file {path} (all {len(state)} tensors loaded)" in out
    _assert_loaded(model.clip, state)


def test_clip_files_that_do_not_fit_fail_naming_the_file_and_keys(tmp_path):
    torch.manual_seed(0)
    state = mac.MicroAUCLIP((1, 2), "tiny", verbose=False).clip.state_dict()
    del state["ln_final.weight"]
    state["extra.weight"] = torch.zeros(2)
    path = tmp_path / "tiny.pt"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"cannot load .*tiny\.pt into 'tiny'.*"
                                         r"missing 1 \(e\.g\. \['ln_final\.weight'\]\)"
                                         r".*unexpected 1 \(e\.g\. \['extra\.weight'\]\)"):
        mac.MicroAUCLIP((1, 2), "tiny", weights=path, verbose=False)
    partial = mac.MicroAUCLIP((1, 2), "tiny", weights=path, strict=False, verbose=False)
    assert "PARTIAL" in partial.weights_description
    # open_clip's conversions still apply: a 16-token text context interpolated to 77 is named
    del state["extra.weight"]
    state["ln_final.weight"] = torch.ones(64)
    torch.save(state, path)
    longer = mac.MicroAUCLIP((1, 2), "tiny-77", weights=path, verbose=False)
    assert "all" in longer.weights_description and "['positional_embedding'] interpolated" in longer.weights_description


@pytest.mark.parametrize("how", ["raw", "module.", "state_dict"])
def test_timm_vit_s_16_file_loads_into_scvit_with_every_tensor(tmp_path, how):
    """A ``timm.create_model('vit_small_patch16_224')`` file through ``SelfMEConfig.weights``: every
    tensor but the ImageNet classifier ``head`` (SCViT has its own Eq. 15 MLP) loaded."""
    torch.manual_seed(0)
    state = timm.create_model("vit_small_patch16_224", pretrained=False).state_dict()
    path = tmp_path / "vit_s_16.pth"
    torch.save(_wrapped(state, how), path)
    cfg, _, _ = sm.preset("full", weights=str(path))
    model = sm.build_model(cfg)
    assert f"all {len(model.vit.state_dict())} tensors loaded" in model.weights_description
    assert "dropped classifier keys ['head.weight', 'head.bias']" in model.weights_description
    _assert_loaded(model.vit, state, skip=("head.",))
