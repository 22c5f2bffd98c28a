"""Annotation-mimic network (Ruan et al. 2022): variants, configs, AWM, AU-CAM (tiny inputs, CPU)."""
import pytest
import timm
import torch

from melib.methods.annotation_mimic.losses import class_weights, mimic_total
from melib.methods.annotation_mimic.model import (
    VARIANTS,
    AreaWeightedModule,
    MimicNet,
    ShuffleAttention,
    au_cam,
    build_model,
    cam_grid_size,
    cam_target_layers,
    split_halves,
)
from melib.models.backbones import report_weights

N_CLASSES = 3
SIZE = 64


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors gain nothing from threads, and on a busy 2-core box OpenMP waits cost 10x."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _batch(b: int = 2, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


_MODELS: dict[tuple[str, str], MimicNet] = {}


def _model(variant: str, config: str = "paper") -> MimicNet:
    """Build each (variant, config) once per session: building dominates these tests' time."""
    if (variant, config) not in _MODELS:
        torch.manual_seed(0)
        _MODELS[variant, config] = build_model(variant, N_CLASSES, config)
    model = _MODELS[variant, config]
    model.zero_grad(set_to_none=True)
    return model.train()


@pytest.fixture(scope="module")
def db_all() -> MimicNet:
    return _model("db+all")


def test_split_halves_at_h_over_2():
    x = torch.arange(2 * 3 * 5 * 4, dtype=torch.float32).reshape(2, 3, 5, 4)
    upper, lower = split_halves(x)
    assert upper.shape == (2, 3, 2, 4) and lower.shape == (2, 3, 3, 4)
    assert torch.equal(torch.cat([upper, lower], dim=2), x)


@pytest.mark.parametrize("config, names", [("paper", list(VARIANTS)), ("official", ["sb", "db", "db+all"])])
def test_every_variant_output_shapes(config, names):
    x = _batch()
    for name in names:
        v = VARIANTS[name]
        out = _model(name, config)(x)
        assert out["logits"].shape == (2, N_CLASSES), name
        assert out["features"].shape == (2, 1024 if v.dual_branch else 512), name
        assert ("logits_eyes" in out) == ("logits_mouth" in out) == v.dual_branch, name
        assert ("area_weights" in out) == v.awm, name
        if v.dual_branch:
            assert torch.allclose(out["logits"], out["logits_eyes"] + out["logits_mouth"])
        if v.awm:
            assert out["area_weights"].shape == (2, 2) and out["feature_weights"].shape == (2, 1024)
    assert not VARIANTS["db+all-rr"].region_replacing and VARIANTS["db+all"].region_replacing


def test_awm_sigmoid_weights_without_softmax():
    torch.manual_seed(0)
    awm = AreaWeightedModule()
    x_cat = torch.randn(4, 1024)
    x_f, w = awm(x_cat)
    assert ((w > 0) & (w < 1)).all() and torch.allclose(x_f, x_cat * w)  # Eqs. 1-2
    with torch.no_grad():
        awm.mlp[-1].bias.fill_(3.0)  # every weight near sigmoid(3) = 0.95: a softmax could not do this
    _, w = awm(x_cat)
    assert (w > 0.5).all() and (w.sum(1) > 900).all()


def test_area_weights_in_unit_interval(db_all):
    out = db_all.eval()(_batch())
    aw = out["area_weights"]
    assert ((aw > 0) & (aw < 1)).all()
    assert torch.allclose(aw[:, 0], out["feature_weights"][:, :512].mean(1))
    assert torch.allclose(aw[:, 1], out["feature_weights"][:, 512:].mean(1))


def test_official_config_differs_from_paper():
    paper, official = _model("db+all", "paper"), _model("db+all", "official")
    assert not paper.official and official.official
    kinds = lambda m: {type(mod).__name__ for mod in m.modules()}  # noqa: E731
    assert "LayerNorm" in kinds(official) and "Dropout" in kinds(official)
    assert "LayerNorm" not in kinds(paper) and "Dropout" not in kinds(paper)
    gates = {m.gate for m in official.modules() if isinstance(m, ShuffleAttention)}
    assert gates == {"softmax"} and {m.gate for m in paper.modules() if isinstance(m, ShuffleAttention)} == {"sigmoid"}
    x = _batch()
    out_o, out_p = official.eval()(x), paper.eval()(x)
    assert torch.allclose(out_o["features"].norm(dim=1), torch.ones(2), atol=1e-5)  # L2-normalised X_F
    assert torch.equal(out_p["features"], out_p["x_f"])
    # eval-mode X_F halves of the official model: unit branch features times weights in (0, 1)
    assert (out_o["x_f"][:, :512].norm(dim=1) < 1).all()


@pytest.mark.parametrize("config, branch_gets_grad", [("paper", True), ("official", False)])
def test_official_awm_input_is_detached(config, branch_gets_grad):
    model = _model("db+awm", config).eval()
    model(_batch())["area_weights"].sum().backward()
    grads = [p.grad for p in model.eyes_branch.parameters()]
    reached = any(g is not None and g.abs().sum() > 0 for g in grads)
    assert reached == branch_gets_grad
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.awm.parameters())


def test_branches_own_layer3_4_and_share_the_base():
    model = _model("db").eval()
    eyes = {id(p) for p in model.eyes_branch.parameters()}
    mouth = {id(p) for p in model.mouth_branch.parameters()}
    assert eyes and not eyes & mouth
    assert all(torch.equal(a, b) for a, b in zip(model.eyes_branch.parameters(), model.mouth_branch.parameters()))
    calls = []
    hook = model.base.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[2]))
    x = _batch()
    out = model(x)
    hook.remove()
    assert calls == [SIZE // 2, SIZE // 2]  # one base, run on the eyes then the mouth image
    # without AWM the eyes head sees the upper half only
    x2 = x.clone()
    x2[:, :, SIZE // 2:] = torch.randn_like(x2[:, :, SIZE // 2:])
    out2 = model(x2)
    assert torch.allclose(out["logits_eyes"], out2["logits_eyes"], atol=1e-6)
    assert not torch.allclose(out["logits_mouth"], out2["logits_mouth"], atol=1e-4)


def test_weights_from_file_reach_base_and_both_branches(tmp_path):
    torch.manual_seed(1)
    reference = timm.create_model("resnet18", pretrained=False, num_classes=0)
    path = tmp_path / "resnet18.pt"
    torch.save(reference.state_dict(), path)
    model = MimicNet(N_CLASSES, weights=path)
    assert torch.equal(model.base.conv1.weight, reference.conv1.weight)
    for branch in (model.eyes_branch, model.mouth_branch):
        assert torch.equal(branch.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)
    assert "weights from file" in report_weights(model)


def test_bad_arguments():
    with pytest.raises(ValueError):
        build_model("db+all", N_CLASSES, config="authors")
    with pytest.raises(ValueError):
        build_model("tb", N_CLASSES)
    with pytest.raises(ValueError):
        MimicNet(N_CLASSES, dual_branch=False, awm=True)


def test_au_cam_shape_range_and_branch_locality():
    model = _model("db")
    x = _batch()
    cam = au_cam(model, x)
    assert cam.shape == (2, SIZE, SIZE) and model.training  # mode restored
    assert (cam >= 0).all() and (cam <= 1).all()
    assert torch.allclose(cam.flatten(1).max(1).values, torch.ones(2))
    # without AWM the eyes map depends on the upper half only (each half normalised on its own)
    x2 = x.clone()
    x2[:, :, SIZE // 2:] = torch.randn_like(x2[:, :, SIZE // 2:])
    a, b = au_cam(model, x, per_branch=True), au_cam(model, x2, per_branch=True)
    assert torch.allclose(a[:, :SIZE // 2], b[:, :SIZE // 2], atol=1e-5)
    assert not torch.allclose(a[:, SIZE // 2:], b[:, SIZE // 2:], atol=1e-3)
    assert len(cam_target_layers(model)) == 2


def test_au_cam_single_branch_and_official():
    for model in (_model("sb"), _model("db+all", "official")):
        cam = au_cam(model, _batch())
        assert cam.shape == (2, SIZE, SIZE) and (cam >= 0).all() and torch.isfinite(cam).all()


def test_one_sgd_step_lowers_the_loss(db_all):
    torch.manual_seed(0)
    model = db_all.train()
    x = _batch(4, seed=1)
    targets = torch.tensor([0, 1, 2, 1])
    aus = torch.tensor([[1, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 1], [0, 1, 1, 0]])
    weights = class_weights(targets, N_CLASSES)

    def loss() -> torch.Tensor:
        out = model(x)
        return mimic_total(model.head_logits(out), out["features"], targets, aus, weights)["total"]

    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    before = loss()
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = loss()
    assert torch.isfinite(before) and after.item() < before.item()


def test_cam_grid_size_is_the_last_layer_map_of_one_half(db_all):
    # ResNet-18 halves the size five times (ceil): a 64 px face's 32 x 64 px half ends as 1 x 2 cells,
    # a 224 px face's 112 x 224 px half as 4 x 7; the single branch sees the whole 64 x 64 face as 2 x 2
    assert cam_grid_size(db_all, SIZE) == (1, 2)
    assert cam_grid_size(db_all, 224) == (4, 7)
    assert cam_grid_size(_model("sb"), SIZE) == (2, 2)
    assert db_all.training  # the mode is restored
