"""`videolights eval`: prints and writes the metrics; a bad submission gives exit status 2."""

import json

from flows.cli import main


def test_eval_command_writes_the_official_layout(data_dir, tmp_path, capsys):
    folder = data_dir / "qvhighlights"
    out = tmp_path / "metrics.json"
    status = main(
        [
            "eval",
            "--submission",
            str(folder / "moment_detr_sample_val_preds.jsonl"),
            "--gt",
            str(folder / "highlight_val_release.jsonl"),
            "--out",
            str(out),
        ]
    )
    assert status == 0
    written = json.loads(out.read_text())
    official = json.loads((folder / "moment_detr_sample_val_preds.metrics.json").read_text())
    assert written["brief"] == official["brief"]
    assert json.loads(capsys.readouterr().out) == written


def test_eval_command_reports_a_bad_submission(data_dir, tmp_path, capsys):
    submission = tmp_path / "pred.jsonl"
    submission.write_text(json.dumps({"qid": 12345, "pred_relevant_windows": [[0, 2, 1]]}) + "\n")
    status = main(
        [
            "eval",
            "--submission",
            str(submission),
            "--gt",
            str(data_dir / "qvhighlights" / "highlight_val_release.jsonl"),
        ]
    )
    assert status == 2
    assert "qids differ" in capsys.readouterr().err
