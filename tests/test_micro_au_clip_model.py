"""Micro-AU CLIP network (Wei et al. 2026, Sec. III-A to III-C, III-E) on the tiny CPU configuration."""
import math

import numpy as np
import open_clip
import pytest
import torch

from melib.data.mappings import CASME2_AUS, SAMM_AUS
from melib.face.template import MIRROR_68, TEMPLATE_68
from melib.methods.micro_au_clip import model as mac
from melib.methods.micro_au_clip.losses import micro_au_clip_total
from melib.methods.micro_au_clip.model import (
    AU_DESCRIPTIONS,
    AU_LANDMARKS,
    MicroAUCLIP,
    emotion_label_combos,
    emotion_scores,
    label_free_emotion,
    landmark_token_index,
    pick_landmark_tokens,
)

SIZE = 56  # the tiny config: 8-px patches, 7 x 7 grid


def tiny(aus=CASME2_AUS, **kwargs):
    torch.manual_seed(0)
    return MicroAUCLIP(aus, "tiny", verbose=False, **kwargs)


def batch(b=4, size=SIZE, seed=0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(b, 3, size, size, generator=g)
    face = torch.tensor(TEMPLATE_68, dtype=torch.float32) * (size - 8) + 4  # the face fills the image
    landmarks = face[None] + torch.randn(b, 68, 2, generator=g)
    return images, landmarks


# ----- Table I and the descriptions ---------------------------------------------------------------

def test_au_landmarks_are_table_1_as_printed():
    # transcribed from Table I (printed numbering, which is dlib's 0-based one)
    assert AU_LANDMARKS[1] == (19, 20, 21, 22, 23, 24)
    assert AU_LANDMARKS[4] == (19, 20, 21, 22, 23, 24)
    assert AU_LANDMARKS[7] == (38, 41, 44, 47)
    assert AU_LANDMARKS[12] == AU_LANDMARKS[15] == (48, 54)
    assert AU_LANDMARKS[14] == (55, 59, 60, 64)
    assert AU_LANDMARKS[17] == (7, 8, 9, 57)
    assert set(AU_LANDMARKS) == set(CASME2_AUS)


def test_table_1_numbering_is_dlib_0_based():
    # 48 and 54 are the mouth corners only 0-based: the leftmost and rightmost outer-lip points
    lips = TEMPLATE_68[48:60, 0]
    assert (48 + int(np.argmin(lips)), 48 + int(np.argmax(lips))) == (48, 54)
    # brows, mouth and chin groups are mirror-symmetric 0-based, not 1-based
    for au in (1, 12, 14, 17):
        points = set(AU_LANDMARKS[au])
        assert {MIRROR_68[p] for p in points} == points
        shifted = {p - 1 for p in points}
        assert {MIRROR_68[p] for p in shifted} != shifted


def test_descriptions_cover_both_datasets_with_paper_wording():
    assert set(CASME2_AUS) | set(SAMM_AUS) <= set(AU_DESCRIPTIONS)
    assert AU_DESCRIPTIONS[4] == ("The eyebrows are lowering", "The eyebrows are not lowering")
    for pos, neg in AU_DESCRIPTIONS.values():
        verb = " is " if " is " in pos else " are "
        assert neg == pos.replace(verb, verb + "not ", 1)


# ----- Eq. 1 ----------------------------------------------------------------------------------------

def test_eq1_token_index_on_a_known_grid():
    lm = torch.tensor([[0, 0], [223, 0], [0, 223], [223, 223], [32, 31], [31, 32], [100, 150], [-5, 300]])
    got = landmark_token_index(lm, (224, 224), (7, 7)).tolist()
    # (0,0) top-left -> 0; top-right -> 6; bottom-left -> 42; bottom-right -> 48; x=32 starts column 1;
    # y=32 starts row 1; (100,150) -> row 4, col 3; outside the image -> clipped to row 6, col 0
    assert got == [0, 6, 42, 48, 1, 7, 4 * 7 + 3, 42]
    # non-square: x scales with the grid width, y with the grid height
    assert landmark_token_index(torch.tensor([[199.0, 99.0], [20.0, 20.0]]), (100, 200), (5, 10)).tolist() == [49, 11]
    assert landmark_token_index(torch.tensor([[20.0, 20.0]]), (224, 224), (7, 7), rounding="round").tolist() == [8]


def test_eq1_picks_the_token_under_each_landmark():
    grid = (7, 7)
    tokens = torch.arange(49, dtype=torch.float32)[None, :, None].repeat(2, 1, 3)  # token i holds value i
    landmarks = torch.zeros(2, 68, 2)
    landmarks[0, 48] = torch.tensor([0.0, 0.0])       # top-left pixel -> token 0
    landmarks[0, 54] = torch.tensor([223.0, 223.0])   # bottom-right pixel -> token 48
    landmarks[1, 48] = torch.tensor([70.0, 40.0])     # col 2, row 1 -> token 9
    landmarks[1, 54] = torch.tensor([224.0, 10.0])    # right edge, clipped -> token 6
    index = torch.tensor([[48, 54]])
    picked, token_idx = pick_landmark_tokens(tokens, landmarks, index, (224, 224), grid)
    assert picked.shape == (2, 1, 2, 3)
    assert token_idx.tolist() == [[[0, 48]], [[9, 6]]]
    assert picked[..., 0].tolist() == [[[0.0, 48.0]], [[9.0, 6.0]]]


# ----- the network ----------------------------------------------------------------------------------

def test_model_outputs_have_the_documented_shapes():
    model = tiny()
    images, landmarks = batch(b=3)
    labels = torch.randint(0, 2, (3, 8))
    out = model(images, landmarks, labels=labels)
    n, d = 8, model.dim
    assert model.grid_size == (7, 7) and d == 64
    shapes = {"logits": (3, n, 2), "probs": (3, n), "au_features": (3, n, d), "local_features": (3, n, d),
              "dependency_weights": (3, n), "attention": (3, n, n), "global_feature": (3, d),
              "token_weights": (3, n, 6), "token_index": (3, n, 6), "text_pos": (n, d), "text_neg": (n, d),
              "text_features": (3, n, d), "image_feature": (3, d)}
    assert {k: tuple(v.shape) for k, v in out.items()} == shapes
    assert torch.allclose(out["dependency_weights"].sum(1), torch.ones(3))
    assert torch.allclose(out["attention"].sum(2), torch.ones(3, n))
    # PTA weights: a softmax over each AU's real landmarks, 0 at padding (AU12 has 2 points, AU7 has 4)
    assert torch.allclose(out["token_weights"].sum(2), torch.ones(3, n))
    assert (out["token_weights"][:, CASME2_AUS.index(12), 2:] == 0).all()
    assert torch.allclose(out["au_features"], out["local_features"] + out["global_feature"][:, None])
    # each sample's text is its own state's description
    pos, neg = out["text_pos"], out["text_neg"]
    for b in range(3):
        for k in range(n):
            assert torch.equal(out["text_features"][b, k], pos[k] if labels[b, k] else neg[k])
    # predict: probabilities in eval mode, mode restored
    model.train()
    probs = model.predict(images, landmarks)
    assert probs.shape == (3, n) and model.training and ((probs > 0) & (probs < 1)).all()


def test_patch_tokens_match_open_clip_output_tokens():
    model = tiny(aus=SAMM_AUS)
    images, _ = batch(b=2)
    visual = model.clip.visual
    visual.output_tokens = True
    try:
        _, tokens = visual(images)
    finally:
        visual.output_tokens = False
    assert torch.allclose(model.patch_tokens(images), tokens @ visual.proj, atol=1e-5)
    with pytest.raises(ValueError):
        model.patch_tokens(torch.randn(1, 3, 64, 64))


def test_landmark_size_rescales_landmarks_from_another_frame():
    model = tiny(aus=SAMM_AUS)
    images, landmarks = batch(b=2)
    direct = model(images, landmarks, with_text=False)["token_index"]
    scaled = model(images, landmarks * 4, landmark_size=(4 * SIZE, 4 * SIZE), with_text=False)["token_index"]
    assert torch.equal(direct, scaled)


def test_only_the_last_blocks_train():
    model = tiny(train_blocks=2, text_train_blocks=1)
    v_blocks = model.clip.visual.transformer.resblocks
    t_blocks = model.clip.transformer.resblocks
    trainable = lambda m: all(p.requires_grad for p in m.parameters())  # noqa: E731
    frozen = lambda m: not any(p.requires_grad for p in m.parameters())  # noqa: E731
    assert [trainable(b) for b in v_blocks] == [False, False, True, True]
    assert [frozen(b) for b in v_blocks] == [True, True, False, False]
    assert [trainable(b) for b in t_blocks] == [False, False, False, True]
    assert frozen(model.clip.visual.conv1) and frozen(model.clip.token_embedding)
    assert not model.clip.visual.positional_embedding.requires_grad and not model.clip.logit_scale.requires_grad
    assert model.clip.visual.proj.requires_grad and model.clip.text_projection.requires_grad
    assert trainable(model.pta) and trainable(model.gda)
    # gradients reach exactly the trainable parameters
    images, landmarks = batch(b=3)
    labels = torch.tensor([[1, 0, 1, 0, 0, 1, 0, 0], [0, 1, 0, 1, 1, 0, 0, 1], [1, 1, 0, 0, 1, 0, 1, 0]])
    out = model(images, landmarks, labels=labels)
    micro_au_clip_total(out["logits"], out["au_features"], out["text_features"], out["dependency_weights"],
                        labels)["total"].backward()
    for name, p in model.named_parameters():
        assert (p.grad is not None) == p.requires_grad, name
    # default: the paper's last three blocks of each tower
    model3 = tiny()
    assert [trainable(b) for b in model3.clip.transformer.resblocks] == [False, True, True, True]
    with pytest.raises(ValueError):
        tiny(train_blocks=5)


def test_frozen_text_tower_caches_its_features():
    model = tiny(aus=SAMM_AUS, text_train_blocks=0)
    pos, neg = model.text_features()
    assert model.text_features()[0] is pos and not pos.requires_grad
    model.load_state_dict(model.state_dict())
    assert model.text_features()[0] is not pos
    trained = tiny(aus=SAMM_AUS)
    assert trained.text_features()[0].requires_grad


def test_ablation_configurations():
    images, landmarks = batch(b=2)
    for pooling in ("mean", "max"):
        out = tiny(aus=SAMM_AUS, pooling=pooling)(images, landmarks, with_text=False)
        assert out["au_features"].shape == (2, 4, 64)
        assert ("token_weights" in out) == (pooling == "mean")
    out = tiny(aus=SAMM_AUS, use_gsd=False)(images, landmarks, with_text=False)
    assert "dependency_weights" not in out and torch.equal(out["au_features"], out["local_features"])
    out = tiny(aus=SAMM_AUS, gda_fc="columns")(images, landmarks, with_text=False)
    assert out["dependency_weights"].shape == (2, 4)


def test_table_ii_and_vii_switches():
    images, landmarks = batch(b=2)
    # GSD only: AU features come from the pooled image feature, so moving the landmarks changes nothing
    model = tiny(aus=SAMM_AUS, use_lsi=False)
    out = model(images, landmarks, with_text=False)
    moved = model(images, landmarks.flip(1), with_text=False)
    assert "token_weights" not in out and out["dependency_weights"].shape == (2, 4)
    assert torch.allclose(out["logits"], moved["logits"])
    lsi = tiny(aus=SAMM_AUS)
    assert not torch.allclose(lsi(images, landmarks, with_text=False)["logits"],
                              lsi(images, landmarks.flip(1), with_text=False)["logits"])
    for fusion in ("add_mlp", "cat_mlp"):
        out = tiny(aus=SAMM_AUS, fusion=fusion)(images, landmarks, with_text=False)
        assert "dependency_weights" not in out and out["global_feature"].shape == (2, 64)
        assert torch.allclose(out["au_features"], out["local_features"] + out["global_feature"][:, None])
    with pytest.raises(ValueError, match="fusion"):
        tiny(fusion="sum")
    with pytest.raises(ValueError, match="use_lsi and use_gsd"):
        tiny(use_lsi=False, use_gsd=False)


def test_global_descriptions_and_text_similarity():
    model = tiny(aus=(1, 4), text_train_blocks=0)
    sentences = model.global_descriptions(torch.tensor([[1, 0], [0, 1]]))
    assert sentences == ["The inner eyebrows are raising, the eyebrows are not lowering",
                         "The inner eyebrows are not raising, the eyebrows are lowering"]
    feats = model.global_text_features(torch.tensor([[1, 0], [0, 1], [1, 0]]))
    assert feats.shape == (3, 64) and torch.equal(feats[0], feats[2]) and not torch.equal(feats[0], feats[1])
    assert len(model._global_text_cache) == 2  # frozen tower: one encoding per distinct sentence
    expected = torch.nn.functional.cosine_similarity(*model.text_features(), dim=-1)
    assert torch.allclose(model.text_similarity(), expected) and model.text_similarity().shape == (2,)
    with pytest.raises(ValueError, match="context of 16 tokens"):  # 8 AUs do not fit the tiny tower's context
        tiny(text_train_blocks=0).global_text_features(torch.zeros(1, 8))


def test_tiny_77_fits_whole_face_sentences_and_the_fast_global_variant_uses_it():
    torch.manual_seed(0)
    model = MicroAUCLIP(CASME2_AUS, "tiny-77", verbose=False, text_train_blocks=0)
    labels = torch.tensor([[1, 0, 1, 0, 0, 1, 0, 0], [0] * 8])
    assert model.clip.context_length == 77
    assert model.global_text_features(labels).shape == (2, 64)  # 8 AUs' states fit, end-of-text kept
    from melib.methods.micro_au_clip import preset
    assert preset("fast", variant="global_origcl")[0].model_name == "tiny-77"
    assert preset("fast", variant="local_origcl")[0].model_name == "tiny"
    assert preset("full", variant="global_origcl")[0].model_name == "ViT-B-32"


def test_one_sgd_step_lowers_the_total_loss():
    model = tiny()
    images, landmarks = batch(b=4, seed=1)
    labels = torch.tensor([[1, 0, 1, 0, 0, 1, 0, 0], [0, 1, 0, 1, 1, 0, 0, 1],
                           [1, 1, 0, 0, 1, 0, 1, 0], [0, 0, 1, 1, 0, 1, 1, 1]])

    def loss():
        out = model(images, landmarks, labels=labels)
        return micro_au_clip_total(out["logits"], out["au_features"], out["text_features"],
                                   out["dependency_weights"], labels)["total"]

    opt = torch.optim.SGD(model.parameter_groups(), momentum=0.0)
    before = loss()
    opt.zero_grad()
    before.backward()
    opt.step()
    with torch.no_grad():
        after = loss()
    assert after.item() < before.item()


# ----- weights ----------------------------------------------------------------------------------

def test_weights_from_a_state_dict_file(tmp_path, capsys):
    source = tiny(aus=SAMM_AUS)
    path = tmp_path / "clip.pt"
    torch.save(source.clip.state_dict(), path)
    torch.manual_seed(1)
    loaded = MicroAUCLIP(SAMM_AUS, "tiny", weights=path)
    assert f"CLIP weights from file {path}" in capsys.readouterr().out
    for (name, a), b in zip(source.clip.state_dict().items(), loaded.clip.state_dict().values()):
        assert torch.equal(a, b), name
    with pytest.raises(FileNotFoundError):
        MicroAUCLIP(SAMM_AUS, "tiny", weights=tmp_path / "missing.pt", verbose=False)
    with pytest.raises(ValueError, match="no pretrained weights"):
        MicroAUCLIP(SAMM_AUS, "tiny", weights="openai", verbose=False)


def test_openai_download_failure_gives_a_clear_error(monkeypatch):
    def offline(*args, **kwargs):
        raise RuntimeError("Failed to download weights for tag 'openai'")

    monkeypatch.setattr(open_clip, "create_model", offline)
    with pytest.raises(RuntimeError, match="needs internet"):
        mac.create_clip("ViT-B-32", "openai")
    with pytest.raises(ValueError, match="unknown model_name"):
        mac.create_clip("ViT-X-99")


# ----- Eq. 13 -----------------------------------------------------------------------------------

def test_emotion_label_table_filters_the_objective_classes():
    combos, emotions = emotion_label_combos(CASME2_AUS)
    table = dict(zip(combos, emotions))
    assert table[frozenset({12})] == "positive" and table[frozenset({7, 12})] == "positive"
    assert table[frozenset({1, 2})] == "surprise"
    assert table[frozenset({4})] == "negative" and table[frozenset({15, 17})] == "negative"
    assert all(c <= set(CASME2_AUS) for c in combos) and len(set(combos)) == len(combos)
    samm = dict(zip(*emotion_label_combos(SAMM_AUS)))
    assert samm[frozenset({2})] == "surprise" and samm[frozenset({12})] == "positive"


def test_emfacs_label_table_maps_the_prototypes_onto_three_classes_as_documented():
    table = dict(zip(*emotion_label_combos(CASME2_AUS, "emfacs")))
    assert table == {frozenset({12}): "positive", frozenset({1, 2}): "surprise",       # happiness, surprise
                     frozenset({1, 4, 15}): "negative", frozenset({1, 2, 4, 7}): "negative",  # sadness, fear
                     frozenset({4, 7}): "negative", frozenset({15}): "negative",          # anger, disgust
                     frozenset({12, 14}): "negative"}                                     # contempt
    objective = dict(zip(*emotion_label_combos(CASME2_AUS)))
    shared = {c: e for c, e in table.items() if objective.get(c) == e}
    assert set(shared) == {frozenset({12}), frozenset({1, 2}), frozenset({4, 7}), frozenset({15})}
    # SAMM: disgust loses every AU, happiness and contempt collide on 12 and both go
    assert dict(zip(*emotion_label_combos(SAMM_AUS, "emfacs"))) == {
        frozenset({4}): "negative", frozenset({4, 7}): "negative", frozenset({2, 4, 7}): "negative",
        frozenset({2}): "surprise"}
    assert set(mac.EMFACS_TO_THREE_CLASS) == set(mac.EMFACS_PROTOTYPES) and mac.LABEL_TABLES == ("objective", "emfacs")


def test_unknown_label_table_raises():
    with pytest.raises(ValueError, match="unknown label table 'facs'"):
        emotion_label_combos(CASME2_AUS, "facs")


def test_eq13_scores_hand_example():
    au = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])             # B=1, N=2, d=2
    per_au = torch.tensor([[[1.0, 1.0], [0.0, 1.0]],          # r=1: cos 1/sqrt2 + 1
                           [[-1.0, 0.0], [1.0, 0.0]]])        # r=2: cos -1 + 0
    assert emotion_scores(au, per_au)[0].tolist() == pytest.approx([1 / math.sqrt(2) + 1, -1.0])
    one = torch.tensor([[1.0, 1.0], [0.0, -3.0]])             # (R, d): r=1 cos 1/sqrt2 twice; r=2 0 - 1
    assert emotion_scores(au, one)[0].tolist() == pytest.approx([2 / math.sqrt(2), 0.0 - 1.0])


def test_label_free_emotion_picks_the_matching_combination():
    aus = CASME2_AUS
    n = len(aus)
    eye = torch.eye(2 * n)
    text_pos, text_neg = eye[:n], eye[n:]  # 16 orthogonal description features
    active = {12}                          # a sample whose AU features sit on AU12-active, others inactive
    feats = torch.stack([text_pos[k] if a in active else text_neg[k] for k, a in enumerate(aus)])[None]
    out = label_free_emotion(feats, text_pos, text_neg, aus)
    assert out["label_scores"].shape == (1, len(out["combos"]))
    best = out["combos"][int(out["label_scores"].argmax())]
    assert best == frozenset({12}) and out["label_scores"].max().item() == pytest.approx(n)
    assert ["negative", "positive", "surprise"][int(out["prediction"])] == "positive"
