"""A checkpoint of the reference implementation, imported, gives the reference's outputs.

tests/data/reference/reference_small.pt holds the reference model's parameter names and shapes,
its options, and the outputs the reference code computed on fixed inputs with weights from
`seeded_state_dict` (see make_fixture.py there); the checkpoint is rebuilt here in the
reference's own format ({"model": state dict, "opt": argparse.Namespace})."""

import argparse

import torch

from flows.cli import main
from model.checkpoints import load_checkpoint, load_model
from tests.data.reference.make_fixture import seeded_state_dict


def test_imported_reference_checkpoint_reproduces_its_outputs(data_dir, tmp_path):
    recorded = torch.load(data_dir / "reference" / "reference_small.pt", weights_only=True)
    source = tmp_path / "model_best.ckpt"
    torch.save(
        {
            "model": seeded_state_dict(recorded["shapes"]),
            "opt": argparse.Namespace(**recorded["opt"]),
            "epoch": 0,
        },
        source,
    )
    target = tmp_path / "imported.ckpt"
    assert main(["import-checkpoint", str(source), str(target)]) == 0
    model, _, _ = load_model(target, "cpu")
    with torch.no_grad():
        outputs = model(**recorded["inputs"])
    for name, expected in recorded["outputs"].items():
        torch.testing.assert_close(outputs[name], expected, rtol=1e-5, atol=1e-5, msg=name)


def test_a_checkpoint_without_the_reference_layout_is_refused(tmp_path, capsys):
    source = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}}, source)
    assert main(["import-checkpoint", str(source), str(tmp_path / "out.ckpt")]) == 2
    assert "not a reference checkpoint" in capsys.readouterr().err


def widened(shapes, prefix: str, narrow: int, wide: int):
    """The fixture's parameter shapes with an input projection taking wider features."""
    return [
        (name, [wide if name.startswith(prefix) and d == narrow else d for d in shape])
        for name, shape in shapes
    ]


def test_an_imported_checkpoint_records_the_features_its_options_name(data_dir, tmp_path):
    """VideoLights-B as the reference's qvhl/train.sh launches it: SlowFast + CLIP + BLIP-2
    video features (2304 + 512 + 768, + 2 for the temporal encoding) and CLIP + BLIP-2 text
    features from its augmented-query folder (512 + 768)."""
    recorded = torch.load(data_dir / "reference" / "reference_small.pt", weights_only=True)
    shapes = widened(recorded["shapes"], "input_vid_proj.0.", 10, 3586)
    shapes = widened(shapes, "input_txt_proj.0.", 8, 1280)
    root = "../Datasets/qvhl/features"
    opt = recorded["opt"] | {
        "v_feat_dim": 3586,
        "t_feat_dim": 1280,
        "ctx_mode": "video_tef",
        "v_feat_dirs": [
            f"{root}/slowfast_features",
            f"{root}/clip_features",
            f"{root}/blip_video_features",
        ],
        "t_feat_dirs": [f"{root}/clip_text_features", f"{root}/blip_aug_text_features_openai"],
    }
    source = tmp_path / "model_best.ckpt"
    torch.save({"model": seeded_state_dict(shapes), "opt": argparse.Namespace(**opt)}, source)
    target = tmp_path / "imported.ckpt"
    assert main(["import-checkpoint", str(source), str(target)]) == 0
    assert load_checkpoint(target)["trained_on"] == {
        "video": [
            ["slowfast_features", 2304],
            ["clip_features", 512],
            ["blip_video_features", 768],
        ],
        "text": [["clip_text_features", 512], ["blip_text_features", 768]],
        "clip_length": 2.0,
        "preset": "imported:model_best.ckpt",
    }


def test_an_imported_checkpoint_without_feature_folders_has_no_record(data_dir, tmp_path):
    recorded = torch.load(data_dir / "reference" / "reference_small.pt", weights_only=True)
    source = tmp_path / "model_best.ckpt"
    opt = argparse.Namespace(**recorded["opt"])
    torch.save({"model": seeded_state_dict(recorded["shapes"]), "opt": opt}, source)
    assert main(["import-checkpoint", str(source), str(tmp_path / "imported.ckpt")]) == 0
    assert "trained_on" not in load_checkpoint(tmp_path / "imported.ckpt")
