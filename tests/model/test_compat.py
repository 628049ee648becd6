"""A checkpoint of the reference implementation, imported, gives the reference's outputs.

tests/data/reference/reference_small.pt holds the reference model's parameter names and shapes,
its options, and the outputs the reference code computed on fixed inputs with weights from
`seeded_state_dict` (see make_fixture.py there); the checkpoint is rebuilt here in the
reference's own format ({"model": state dict, "opt": argparse.Namespace})."""

import argparse

import torch

from flows.cli import main
from model.checkpoints import load_model
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
