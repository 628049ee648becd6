"""pretrain-then-finetune in one run, with the tiny models: each step hands its paths on."""

import json

import pytest

from flows.pretrain_then_finetune import pretrain_then_finetune
from tests.flows.conftest import TINY


@pytest.mark.timeout(300)
def test_each_step_passes_its_outputs_to_the_next(prefect_api, data_dir, tmp_path):
    annotations = data_dir / "annotations" / "big_buck_bunny_0_30.jsonl"
    out = tmp_path / "run"
    run = pretrain_then_finetune(
        videos=data_dir / "videos",
        finetune_annotations=annotations,
        val_annotations=annotations,
        out=out,
        encoders=("clip",),
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
    assert run.synth.rows_total == 3 and run.caption_text_files == 3
    assert run.pretrain.best_checkpoint.is_file() and run.finetune.best_checkpoint.is_file()
    assert run.evaluate.submission.is_file() and "MR-full-mAP" in run.evaluate.brief


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
