"""pretrain-then-finetune in one run, with the tiny models: each step hands its paths on."""

import json

import numpy as np
import pytest
import torch

from flows.pretrain_then_finetune import pretrain_then_finetune
from tests.flows.conftest import TINY


@pytest.mark.timeout(300)
def test_each_step_passes_its_outputs_to_the_next(prefect_api, data_dir, tmp_path):
    """With the flow's default encoders (SlowFast, CLIP, BLIP-2), as the demo runs it."""
    annotations = data_dir / "annotations" / "big_buck_bunny_0_30.jsonl"
    out = tmp_path / "run"
    run = pretrain_then_finetune(
        videos=data_dir / "videos",
        finetune_annotations=annotations,
        val_annotations=annotations,
        out=out,
        pretrain_epochs=1,
        finetune_epochs=1,
        **TINY,
    )
    lineage = json.loads((out / "lineage.json").read_text())
    assert [step["step"] for step in lineage["steps"]] == [
        "extract",
        "synth",
        "caption-text-features",
        "pretrain",
        "finetune",
        "evaluate",
    ]
    assert "failed" not in lineage
    steps = {step["step"]: step for step in lineage["steps"]}
    pretrained = steps["pretrain"]["result"]["best_checkpoint"]
    assert steps["finetune"]["inputs"]["init_from"] == pretrained
    finetuned = steps["finetune"]["result"]["best_checkpoint"]
    assert steps["evaluate"]["inputs"]["checkpoint"] == finetuned
    assert steps["pretrain"]["inputs"]["train_annotations"] == steps["synth"]["result"]["out"]
    assert run.synth.rows_total == 3
    assert run.caption_text_files == 3 * 2  # each caption's CLIP and BLIP-2 features
    assert run.pretrain.best_checkpoint.is_file() and run.finetune.best_checkpoint.is_file()
    assert run.evaluate.submission.is_file() and "MR-full-mAP" in run.evaluate.brief

    video_dirs, text_dirs = run.extract.video_feature_dirs, run.extract.text_feature_dirs
    assert [d.name for d in video_dirs] == [
        "slowfast_features",
        "clip_features",
        "blip_video_features",
    ]
    assert [d.name for d in text_dirs] == ["clip_text_features", "blip_text_features"]
    video_width = sum(
        np.load(d / "big_buck_bunny_0_30.npz")["features"].shape[1] for d in video_dirs
    )
    text_width = sum(np.load(d / "qid1.npz")["last_hidden_state"].shape[1] for d in text_dirs)
    for trained in (run.pretrain, run.finetune):  # both on all three video feature types
        checkpoint = torch.load(trained.best_checkpoint, weights_only=True)
        assert checkpoint["video_dim"] == video_width + 2  # + the temporal encoding
        assert checkpoint["text_dim"] == text_width


def test_a_failing_step_is_recorded_in_the_lineage(prefect_api, data_dir, tmp_path):
    from flows.pretrain_then_finetune import Lineage

    lineage = Lineage(tmp_path / "lineage.json", {"videos": data_dir})

    def broken(hint):
        raise RuntimeError("no GPU left")

    assert lineage.step("first", lambda: {"out": "/x"}) == {"out": "/x"}
    with pytest.raises(RuntimeError):
        lineage.step("second", broken, hint="cuda")
    record = json.loads((tmp_path / "lineage.json").read_text())
    assert record["steps"] == [{"step": "first", "inputs": {}, "result": {"out": "/x"}}]
    assert record["failed"] == {
        "step": "second",
        "inputs": {"hint": "cuda"},
        "error": "RuntimeError: no GPU left",
    }
