"""Every command given a wrong input: one message naming the input and the reason, exit status
2, no traceback. One case per subcommand of `videolights`, and `synth-generate`."""

import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import build_parser, main
from tests.cli.conftest import feature_arguments

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def inputs(tmp_path, make_video):
    """A text file posing as a video, a JSONL that is not JSON, a folder with one short video."""
    videos = tmp_path / "videos"
    videos.mkdir()
    make_video("short.mp4", 20, fps=10).rename(videos / "short.mp4")
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video\n")
    not_json = tmp_path / "queries.jsonl"
    not_json.write_text("qid,query\n1,a dog\n")
    return {"dir": tmp_path, "videos": videos, "not_video": not_video, "not_json": not_json}


def case_probe(inputs, features):
    argv = ["probe", str(inputs["videos"]), "--out", str(inputs["dir"] / "m.parquet")]
    return [*argv, "--clip-length", "-1"], ["--clip-length: must be a positive number", "-1"]


def case_browse(inputs, features):
    missing = inputs["dir"] / "no-run"
    return ["browse", str(missing)], [f"{missing}: no such folder"]


def case_clips(inputs, features):
    return ["clips", str(inputs["not_video"])], [str(inputs["not_video"]), "not a readable video"]


def case_extract(inputs, features):
    argv = ["extract", "--videos", str(inputs["videos"]), "--out", str(inputs["dir"] / "f")]
    argv += ["--model-size", "tiny", "--queries", str(inputs["not_json"])]
    return argv, [f"{inputs['not_json']}:1: not valid JSON"]


def case_weights(inputs, features):
    to = inputs["not_video"] / "weights"  # under a file: no folder can be made there
    return ["weights", "fetch", "clip", "--to", str(to)], ["Not a directory", str(to)]


def case_synth(inputs, features):
    argv = ["synth", "--videos", str(inputs["videos"]), "--out", str(inputs["dir"] / "s")]
    return [*argv, "--model-size", "tiny", "--device", "gpu"], ["unknown device 'gpu'"]


def case_eval(inputs, features):
    folder = ROOT / "tests" / "data" / "qvhighlights"
    out = inputs["not_video"] / "metrics.json"  # under a file: no folder can be made there
    argv = ["eval", "--submission", str(folder / "moment_detr_sample_val_preds.jsonl")]
    argv += ["--gt", str(folder / "highlight_val_release.jsonl"), "--out", str(out)]
    return argv, ["File exists", str(inputs["not_video"])]


def case_train(inputs, features):
    config = inputs["dir"] / "broken.yaml"
    config.write_text("model: {encoder_layers: 1\n")
    argv = ["train", "--train-annotations", str(features["train"]), *feature_arguments(features)]
    argv += ["--out", str(inputs["dir"] / "run"), "--config", str(config)]
    return argv, [f"{config}: not valid YAML"]


def case_predict(inputs, features):
    argv = ["predict", "--checkpoint", str(inputs["not_video"]), "--out", "p.jsonl"]
    argv += ["--annotations", str(features["val"]), *feature_arguments(features)]
    return argv, [f"{inputs['not_video']}: not a checkpoint"]


def case_import_checkpoint(inputs, features):
    empty = inputs["dir"] / "empty.ckpt"
    empty.touch()
    out = str(inputs["dir"] / "ours.ckpt")
    return ["import-checkpoint", str(empty), out], [f"{empty}: not a checkpoint"]


def case_serve(inputs, features):
    missing = inputs["dir"] / "missing.yaml"
    return ["serve", "--prefect-file", str(missing)], ["No such file", str(missing)]


def case_demo(inputs, features):
    work = inputs["not_video"]
    return ["demo", "--work", str(work)], ["Not a directory", str(work)]


CASES = {name.removeprefix("case_").replace("_", "-"): case for name, case in globals().items()
         if name.startswith("case_")}  # fmt: skip


def test_every_command_has_a_case():
    subcommands = build_parser()._subparsers._group_actions[0].choices
    assert set(subcommands) == set(CASES)


@pytest.mark.parametrize("command", sorted(CASES))
def test_a_wrong_input_gives_one_message_and_exit_status_2(
    command, inputs, features, capsys, monkeypatch
):
    for variable in ("VIDEOLIGHTS_TASK_RUNNER", "VIDEOLIGHTS_TASK_WORKERS"):
        monkeypatch.setenv(variable, "")  # `serve` sets them: undone after the test
        monkeypatch.delenv(variable)
    monkeypatch.chdir(inputs["dir"])
    argv, fragments = CASES[command](inputs, features)
    try:
        status = main(argv)
    except SystemExit as exit:  # argparse's own usage errors
        status = exit.code
    out, err = capsys.readouterr()
    assert status == 2
    message = err.splitlines()[-1]  # argparse prints its usage line(s) before
    assert message.startswith(f"videolights {argv[0]}"), err
    for fragment in fragments:
        assert fragment in message
    assert "Traceback" not in out + err


def test_synth_generate_as_a_process(inputs):
    """The console script as a user runs it."""
    argv = ["--videos", str(inputs["videos"]), "--out", str(inputs["dir"] / "s")]
    argv += ["--model-size", "tiny", "--device", "tpu"]
    result = subprocess.run(
        [sys.executable, "-m", "synth.cli", *argv], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        "synth-generate: unknown device 'tpu'; use auto, cpu, cuda or cuda:N"
    )
    assert "Traceback" not in result.stdout + result.stderr
