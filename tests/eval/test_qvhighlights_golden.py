"""Our QVHighlights figures equal those the official evaluator printed for two real submissions."""

import json

import pytest

from model.eval import evaluate_files

GOLDEN = ["moment_detr_sample_val_preds", "qd_detr_val_preds"]


@pytest.mark.parametrize("name", GOLDEN)
def test_every_official_figure_matches_the_golden_file(data_dir, name):
    folder = data_dir / "qvhighlights"
    ours = json.loads(
        json.dumps(evaluate_files(folder / f"{name}.jsonl", folder / "highlight_val_release.jsonl"))
    )
    official = json.loads((folder / f"{name}.metrics.json").read_text())
    for group in ("short", "middle", "long", "full"):
        assert "MR-mIoU" in ours[group]
        del ours[group]["MR-mIoU"]
    assert list(ours) == list(official)
    assert list(ours["brief"]) == list(official["brief"])
    assert ours == official
