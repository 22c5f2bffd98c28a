"""IICL networks, the Table 1-2 variant registry, and backbone weight loading (tiny inputs, CPU)."""
import pytest
import torch

from melib.losses import au_bce
from melib.models.backbones import create_backbone, report_weights
from melib.methods.iicl.model import FRAMES, VARIANTS, IICLNet, SeqNet, build_model, get_variant, variant_loss

N_AUS = 4
# rows 0/1 and 2/3 share no AU -> Eq. 4 negative pairs exist
LABELS = torch.tensor([[1, 0, 0, 0], [0, 1, 1, 0], [1, 0, 1, 0], [0, 0, 0, 1]], dtype=torch.float32)


def _frames(batch: int = 4, size: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    """Near-identical frames (like a micro-expression clip), so every hinge loss is active."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(1, 3, size, size, generator=g)
    return {k: base + 0.05 * torch.randn(batch, 3, size, size, generator=g) for k in FRAMES}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny tensors gain nothing from threads, and on a busy 2-core box OpenMP waits cost 10x."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def iicl_model() -> IICLNet:
    torch.manual_seed(0)
    return build_model("iicl", N_AUS, backbone_size="18")


def test_every_loss_term_reaches_the_first_conv(iicl_model):
    model = iicl_model.eval()  # eval-mode BatchNorm keeps the near-identical frames close together
    outputs = model.forward_frames(_frames())
    losses = {**variant_loss("iicl", outputs, LABELS), **variant_loss("cl", outputs, LABELS),
              **variant_loss("tl", outputs, LABELS)}
    conv1 = model.backbone.conv1.weight
    for term in ["bce_apex", "bce_close", "oa", "oc", "ac", "na", "cl", "tl"]:
        assert losses[term].item() > 0, term
        (grad,) = torch.autograd.grad(losses[term], conv1, retain_graph=True)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, term


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variants_wire_their_terms(name):
    torch.manual_seed(0)
    v = VARIANTS[name]
    model = build_model(name, N_AUS, backbone_size="18")
    assert isinstance(model, SeqNet if v.sequence else IICLNet)
    assert model.weights_description.startswith(f"{v.family}18:")
    frames = _frames(batch=4, size=16)
    with torch.no_grad():  # wiring only; gradients are checked above
        losses = variant_loss(v, model.forward_frames({k: frames[k] for k in v.inputs}), LABELS, lam=0.5)
    assert tuple(losses) == ("total",) + v.loss_terms
    bce = sum(x for k, x in losses.items() if k.startswith("bce_"))
    contrastive = sum(x for k, x in losses.items() if k != "total" and not k.startswith("bce_"))
    assert losses["total"].item() == pytest.approx((bce + 0.5 * contrastive).item(), abs=1e-5)
    probs = model.predict_frames({k: frames[k] for k in v.test_inputs})
    assert probs.shape == (4, N_AUS) and bool(((probs >= 0) & (probs <= 1)).all())


def test_registry_matches_the_paper_rows():
    assert set(VARIANTS["senet"].loss_terms) == {"bce_apex"}
    assert set(VARIANTS["intracl"].loss_terms) == {"bce_apex", "bce_close", "oa", "oc", "ac"}
    assert set(VARIANTS["intercl"].loss_terms) == {"bce_apex", "na"}
    assert set(VARIANTS["iicl"].loss_terms) == {"bce_apex", "bce_close", "oa", "oc", "ac", "na"}
    # melib's control: IntraCL's extra close-to-apex BCE and three-frame batches, no contrastive term
    assert set(VARIANTS["senet_close"].loss_terms) == {"bce_apex", "bce_close"}
    assert VARIANTS["senet_close"].inputs == VARIANTS["intracl"].inputs and VARIANTS["senet_close"].family == "seresnet"
    assert "cl" in VARIANTS["cl"].loss_terms and "tl" in VARIANTS["tl"].loss_terms
    assert VARIANTS["resnet"].family == "resnet" and VARIANTS["seseq"].sequence
    assert all(v.test_inputs == ("apex",) for v in VARIANTS.values() if not v.sequence)
    with pytest.raises(ValueError, match="unknown IICL variant"):
        get_variant("iicl2")
    with pytest.raises(ValueError, match="backbone_size"):
        build_model("senet", N_AUS, backbone_size="34")


def test_missing_frames_give_a_clear_error(iicl_model):
    apex_only = iicl_model.forward_frames({"apex": _frames()["apex"]})
    with pytest.raises(ValueError, match="needs model outputs"):
        variant_loss("iicl", apex_only, LABELS)
    with pytest.raises(ValueError, match="missing"):
        iicl_model.forward_frames({"onset": _frames()["onset"]})


def test_predict_uses_apex_only_and_restores_mode(iicl_model):
    frames = _frames()
    iicl_model.train()
    probs = iicl_model.predict(frames["apex"])
    assert iicl_model.training
    other_onset = dict(frames, onset=torch.zeros_like(frames["onset"]))
    assert torch.equal(iicl_model.predict_frames(other_onset), probs)
    iicl_model.eval()
    assert torch.allclose(probs, torch.sigmoid(iicl_model(frames["apex"])[1]))
    assert au_bce(iicl_model(frames["apex"])[1], LABELS).item() > 0


@pytest.mark.parametrize("fusion,factor", [("concat", 3), ("mean", 1)])
def test_seqnet_fusion(fusion, factor):
    torch.manual_seed(0)
    model = build_model("resseq", N_AUS, backbone_size="18", fusion=fusion).eval()
    assert model.head.in_features == factor * model.feature_dim
    f = _frames(batch=2)
    feats, logits = model(f["onset"], f["close"], f["apex"])
    assert feats.shape == (2, factor * 512) and logits.shape == (2, N_AUS)
    swapped, _ = model(f["apex"], f["close"], f["onset"])
    assert (fusion == "mean") == torch.allclose(feats, swapped, atol=1e-6)  # only mean is order-free


def test_weights_none_says_random_init(capsys):
    _, dim, description = create_backbone("seresnet18")
    assert dim == 512 and description == "seresnet18: random init (no pretrained weights)"
    assert report_weights(description).endswith("random init (no pretrained weights)")
    assert "random init" in capsys.readouterr().out


def test_imagenet_without_timm_weights_fails_fast():
    with pytest.raises(RuntimeError, match="weights='none'"):
        create_backbone("seresnet18", weights="imagenet")  # timm has no seresnet18 checkpoint


def test_state_dict_file_round_trip(tmp_path):
    torch.manual_seed(1)
    source, _, _ = create_backbone("seresnet18")
    wrapped = {"module." + k: v for k, v in source.state_dict().items()}
    wrapped["fc.weight"] = torch.zeros(10, 512)  # a classifier from a full-network checkpoint
    path = tmp_path / "senet.pth"
    torch.save({"state_dict": wrapped}, path)
    torch.manual_seed(2)
    loaded, _, description = create_backbone("seresnet18", weights=path)
    assert "weights from file" in description and "fc.weight" in description
    for (name, a), b in zip(source.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(source.eval()(x), loaded.eval()(x))
    model = IICLNet(N_AUS, "seresnet18", weights=path)
    assert str(path) in report_weights(model)


def test_mismatched_state_dict_files_fail_clearly(tmp_path):
    plain, _, _ = create_backbone("resnet18")
    path = tmp_path / "resnet18.pth"
    torch.save(plain.state_dict(), path)
    with pytest.raises(ValueError, match="does not fit backbone 'seresnet18'"):
        create_backbone("seresnet18", weights=path)
    _, _, partial = create_backbone("seresnet18", weights=path, strict=False)
    assert partial.startswith("seresnet18: PARTIAL weights")
    junk = tmp_path / "junk.pth"
    torch.save({"foo": torch.zeros(3)}, junk)
    with pytest.raises(ValueError, match="0/"):
        create_backbone("seresnet18", weights=junk, strict=False)
    not_dict = tmp_path / "list.pth"
    torch.save([1, 2, 3], not_dict)
    with pytest.raises(ValueError, match="does not hold a state dict"):
        create_backbone("seresnet18", weights=not_dict)
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        create_backbone("seresnet18", weights=tmp_path / "absent.pth")
    with pytest.raises(ValueError, match="unknown backbone"):
        create_backbone("senet_does_not_exist")


def test_batchnorm_joint_mixes_frame_statistics_and_separate_does_not(iicl_model):
    """In training mode, "separate" gives each frame type exactly what it gets alone; "joint" does not."""
    frames = _frames()
    frames["onset"] = frames["onset"] + 3.0  # a frame type with other statistics
    iicl_model.train()
    with torch.no_grad():
        alone = iicl_model(frames["apex"])[1]
        separate = iicl_model.forward_frames(frames, batchnorm="separate")["logits_apex"]
        joint = iicl_model.forward_frames(frames)["logits_apex"]
    torch.testing.assert_close(separate, alone)
    assert (joint - alone).abs().max() > 1e-3
    with pytest.raises(ValueError, match="batchnorm"):
        iicl_model.forward_frames(frames, batchnorm="mixed")
