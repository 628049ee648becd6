"""Bad parameters fail before any work, with messages that name them."""

import pytest
from prefect.exceptions import ParameterTypeError
from pydantic import ValidationError

from flows.cli import main
from flows.evaluate import evaluate
from flows.extract import extract
from flows.pretrain_then_finetune import pretrain_then_finetune
from flows.runners import TaskRunnerChoice
from flows.train import finetune


def test_extract_rejects_each_bad_parameter_by_name(tmp_path):
    with pytest.raises(ParameterTypeError) as raised:
        extract.validate_parameters(
            {
                "videos": str(tmp_path / "missing"),
                "encoders": ["clip", "i3d"],
                "device": "gpu",
                "shard_size": 0,
                "clip_length": -2,
                "preset": "hero",
            }
        )
    message = str(raised.value)
    assert "missing: no such file or folder" in message
    for name in ("encoders.1", "device", "shard_size", "clip_length", "preset"):
        assert f" - {name}:" in message


def test_paths_are_made_absolute_and_strings_converted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "videos").mkdir()
    values = extract.validate_parameters({"videos": "videos", "shard_size": "3"})
    assert values["videos"] == tmp_path / "videos"
    assert values["out"].is_absolute() and values["shard_size"] == 3


def test_pipeline_and_training_parameters_are_checked(tmp_path):
    with pytest.raises(ParameterTypeError, match="finetune_annotations"):
        pretrain_then_finetune.validate_parameters({"videos": str(tmp_path)})
    with pytest.raises(ParameterTypeError, match="epochs"):
        finetune.validate_parameters(
            {
                "train_annotations": str(tmp_path),
                "video_feature_dirs": [str(tmp_path)],
                "text_feature_dirs": [str(tmp_path)],
                "epochs": 0,
            }
        )


def test_evaluate_needs_exactly_one_of_submission_and_checkpoint(tmp_path):
    gt = tmp_path / "gt.jsonl"
    gt.write_text("")
    with pytest.raises(ValueError, match="either a submission or a checkpoint"):
        evaluate.fn(gt=gt, submission=gt, checkpoint=gt)
    with pytest.raises(ValueError, match="needs video and text feature folders"):
        evaluate.fn(gt=gt, checkpoint=gt)


def test_task_runner_choice():
    with pytest.raises(ValidationError, match="needs the dask task runner"):
        TaskRunnerChoice(kind="thread", address="tcp://scheduler:8786")
    with pytest.raises(ValidationError):
        TaskRunnerChoice(workers=0)
    choice = TaskRunnerChoice(kind="dask", workers=3)
    assert choice.environment() == {
        "VIDEOLIGHTS_TASK_RUNNER": "dask",
        "VIDEOLIGHTS_TASK_WORKERS": "3",
    }


def test_task_runner_choice_from_the_environment(monkeypatch):
    monkeypatch.setenv("VIDEOLIGHTS_TASK_RUNNER", "dask")
    monkeypatch.setenv("VIDEOLIGHTS_DASK_ADDRESS", "tcp://scheduler:8786")
    choice = TaskRunnerChoice.from_environment()
    assert (choice.kind, choice.address) == ("dask", "tcp://scheduler:8786")
    monkeypatch.setenv("VIDEOLIGHTS_TASK_RUNNER", "ray")
    with pytest.raises(ValidationError):
        TaskRunnerChoice.from_environment()


def test_serve_rejects_a_bad_runner_choice_with_status_2(capsys, monkeypatch):
    monkeypatch.delenv("VIDEOLIGHTS_TASK_RUNNER", raising=False)
    assert main(["serve", "--workers", "0"]) == 2
    assert main(["serve", "--dask-address", "tcp://scheduler:8786"]) == 2
    assert "needs the dask task runner" in capsys.readouterr().err
