"""The planted benchmark: table, verdict, resume and log reading, on figures written by hand."""

import json
import sys

import pytest
import torch

from benchmarks import planted_vs_reference
from benchmarks.planted_vs_reference import (
    FIGURES,
    load_results,
    permutation_p,
    spread_p,
    summarise,
    training_losses,
    verdict,
)


def results(ours_r1, reference_r1, ours_hit, reference_hit):
    """Three seeds of each side at epoch 40."""
    figures = {}
    sides = (("ours", ours_r1, ours_hit), ("reference", reference_r1, reference_hit))
    for side, r1s, hits in sides:
        for seed, r1, hit in zip((1, 2, 3), r1s, hits, strict=True):
            metrics = {40: {"R1@0.5": r1, "HIT@1": hit}}
            figures[(side, seed)] = {"metrics": metrics, "loss": {40: r1 / 2}}
    return figures


def test_the_table_gives_each_side_s_mean_and_sample_standard_deviation():
    table = summarise(results([60, 70, 80], [65, 65, 65], [50, 50, 53], [40, 50, 60]), [1, 2, 3])
    # R1: ours mean 70, sd 10; reference 65, sd 0. HIT: ours 51, sd sqrt(3); reference 50, sd 10.
    # Loss (R1 / 2 here): ours 35, sd 5; reference 32.5, sd 0.
    assert table[2] == (
        "| 40 | 70.0 ± 10.0 | 65.0 ± 0.0 | 51.0 ± 1.7 | 50.0 ± 10.0 | 35.0 ± 5.0 | 32.5 ± 0.0 |"
    )


def test_the_goal_needs_a_mean_at_least_the_reference_s_and_a_spread_no_wider():
    figures = results([60, 70, 80], [65, 65, 65], [50, 50, 53], [40, 50, 60])
    r1, hit = verdict(figures, 40)
    assert "goal not met" in r1  # the mean is higher, the spread wider
    assert hit.startswith(
        "epoch 40 HIT@1: ours 51.0 ± 1.7 (3 seeds), reference 50.0 ± 10.0 (3): goal met"
    )
    lower = results([63, 64, 65], [64, 65, 66], [49, 50, 51], [49, 50, 51])
    assert ["goal met" in line for line in verdict(lower, 40)] == [False, True]


def test_a_rerun_keeps_the_runs_that_finished_the_same_number_of_epochs(tmp_path):
    def finished(side, seed, epochs):
        (tmp_path / f"{side}_{seed}").mkdir()
        metrics = {str(epochs): {"R1@0.5": 50.0, "HIT@1": 60.0}}
        figures = {"seconds": 1.0, "epochs": epochs, "metrics": metrics}
        (tmp_path / f"{side}_{seed}" / FIGURES).write_text(json.dumps(figures))
        history = [{"epoch": epochs, "loss": 33.5}]
        (tmp_path / f"{side}_{seed}" / "history.json").write_text(json.dumps(history))

    finished("ours", 1, 40)
    finished("reference", 1, 30)  # another --epochs: trained again
    (tmp_path / "reference_2").mkdir()  # started, never finished: trained again
    kept = load_results(tmp_path, ["ours", "reference"], [1, 2], 40)
    assert list(kept) == [("ours", 1)]
    assert kept["ours", 1]["metrics"] == {40: {"R1@0.5": 50.0, "HIT@1": 60.0}}
    assert kept["ours", 1]["loss"] == {40: 33.5}


def test_the_reference_s_training_loss_is_read_from_its_log_by_epoch(tmp_path):
    # Two lines in the reference's train.log.txt format ("[Epoch] {epoch_i + 1:03d}").
    (tmp_path / "hl-video_tef-seed1").mkdir()
    (tmp_path / "hl-video_tef-seed1" / "train.log.txt").write_text(
        "2026_12_06_21_39_51 [Epoch] 001 [Loss] loss_span 0.7703 loss_overall 68.3079\n"
        "2026_12_06_21_40_34 [Epoch] 002 [Loss] loss_span 0.9044 loss_overall 59.1233\n"
    )
    assert training_losses("reference", tmp_path) == {1: 68.3079, 2: 59.1233}


def test_the_permutation_test_counts_the_splits_at_least_as_far_apart():
    # {1, 2} against {3, 4}: of the six ways to split the four values in two pairs, the gaps
    # in means are 2, 1, 0, 0, 1, 2: two are at least the observed 2.
    assert permutation_p([1, 2], [3, 4]) == 2 / 6
    # Equal groups: every split is at least as far apart.
    assert permutation_p([5, 5], [5, 5]) == 1.0
    # Three against three, fully separated: only the observed split and its mirror, of 20.
    assert permutation_p([1, 2, 3], [10, 11, 12]) == 2 / 20


def test_beyond_the_exact_limit_random_splits_estimate_the_same_p(monkeypatch):
    # {60, 70, 80} against three 65s: 14 of the 20 splits are at least 5 apart (counted in
    # the verdict test below), p = 0.70; sampled, within 5 standard errors (0.0015 each).
    monkeypatch.setattr(planted_vs_reference, "EXACT_SPLITS", 0)
    assert abs(permutation_p([60, 70, 80], [65, 65, 65]) - 0.70) < 0.0075


def test_thirty_seeds_a_side_get_a_sampled_p_that_is_never_zero():
    resamples = planted_vs_reference.RESAMPLES
    # Fully separated: only the observed split and its mirror (2 of 1.2e17) are as far apart,
    # so no random split is, and the observed one counted in gives 1 / (resamples + 1).
    separated = permutation_p(list(range(30)), list(range(100, 130)))
    assert separated == 1 / (resamples + 1)
    # All values equal: every split is as far apart as the observed one.
    assert permutation_p([5.0] * 30, [5.0] * 30) == 1.0


def test_the_spread_test_permutes_the_deviations_from_each_median():
    # {0, 10} (median 5) against {5, 5}: deviations {5, 5} against {0, 0}; of the six ways to
    # split {5, 5, 0, 0} in two pairs, the two unmixed ones are 5 apart, the four mixed ones 0.
    assert spread_p([0, 10], [5, 5]) == 2 / 6
    # Shifted but equally spread: deviations {1, 1} on both sides, every split as far apart.
    assert spread_p([0, 2], [100, 102]) == 1.0


def test_the_verdict_gives_the_permutation_p_of_each_gap():
    figures = results([60, 70, 80], [65, 65, 65], [50, 50, 53], [40, 50, 60])
    r1, hit = verdict(figures, 40)
    # R1: {60, 70, 80} against {65, 65, 65}, gap 5; pooled sum 405, so a group summing to S is
    # at least 5 from the rest when S <= 195 or S >= 210. Of the 20 groups of three: the three
    # 65s and 60+70+80 (2); 60+70 or 70+80 with one 65 (6); 60 or 80 with two 65s (6): 14.
    assert r1.endswith("p = 0.70)")
    # HIT: {50, 50, 53} against {40, 50, 60}, gap 1; pooled sum 303: only a group summing to
    # 151 or 152 is closer, and none does.
    assert hit.endswith("p = 1.00)")


def test_the_verdict_gives_welch_s_95_percent_interval_of_each_gap():
    # R1: {60, 70, 80} (variance 100) against three 65s (variance 0): gap +5, standard error
    # sqrt(100 / 3) = 5.774 on Welch's (100/3)^2 / ((100/3)^2 / 2) = 2 degrees of freedom,
    # whose 97.5% t quantile is 4.303 (a t table): 5 -/+ 24.84.
    figures = results([60, 70, 80], [65, 65, 65], [50, 50, 53], [40, 50, 60])
    r1, _ = verdict(figures, 40)
    assert "(gap in means +5.0, 95% interval -19.8 to +29.8;" in r1


def test_the_verdict_takes_every_seed_each_side_finished():
    figures = results([60, 70, 80], [65, 65, 65], [50, 50, 53], [40, 50, 60])
    del figures[("reference", 3)]
    r1, _ = verdict(figures, 40)
    assert r1.startswith("epoch 40 R1@0.5: ours 70.0 ± 10.0 (3 seeds), reference 65.0 ± 0.0 (2)")


def usage_error(argv: list[str], monkeypatch, capsys) -> str:
    """What main() prints when it stops with exit 2 on these arguments."""
    monkeypatch.setattr(sys, "argv", ["planted_vs_reference.py", *argv])
    with pytest.raises(SystemExit) as exit_:
        planted_vs_reference.main()
    assert exit_.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize(
    "flag, message",
    [
        (["--epochs", "12"], "--epochs 12: give a multiple of 5"),
        (["--jobs", "0"], "--jobs: must be a whole number of at least 1, got '0'"),
        (["--seeds", "two"], "--seeds: must be a whole number of at least 1, got 'two'"),
        (["--sides", "ours,theirs"], "--sides: must be ours, reference or both"),
        (["--reference", "."], "--reference .: not a dpaul06/VideoLights checkout"),
        ([], "--reference PATH/TO/dpaul06-VideoLights is needed to train its side"),
    ],
)
def test_a_bad_flag_stops_with_one_message_and_exit_2(flag, message, monkeypatch, capsys):
    err = usage_error(flag, monkeypatch, capsys)
    assert message in err
    assert "Traceback" not in err


def test_our_side_alone_trains_scores_and_is_kept_on_a_rerun(tmp_path, monkeypatch, capsys):
    argv = ["--sides", "ours", "--seeds", "1", "--epochs", "5", "--train", "32", "--val", "16"]
    argv += ["--jobs", "1", "--out", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", ["planted_vs_reference.py", *argv])
    planted_vs_reference.main()
    figures = json.loads((tmp_path / "ours_2018" / FIGURES).read_text())
    assert (figures["epochs"], figures["device"], list(figures["metrics"])) == (5, "cpu", ["5"])
    metrics = figures["metrics"]["5"]
    assert sorted(metrics) == ["HIT@1", "R1@0.5"]
    assert all(0 <= value <= 100 for value in metrics.values())
    (result,) = json.loads((tmp_path / "results.json").read_text())
    assert (result["side"], result["seed"], result["metrics"]["5"]) == ("ours", 2018, metrics)
    first = capsys.readouterr().out
    row = f"| 5 | {metrics['R1@0.5']:.1f} | - | {metrics['HIT@1']:.1f} | - |"
    assert row in first

    written = (tmp_path / "ours_2018" / FIGURES).stat().st_mtime_ns
    planted_vs_reference.main()
    assert "kept 1 finished runs" in capsys.readouterr().out
    assert (tmp_path / "ours_2018" / FIGURES).stat().st_mtime_ns == written


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_asking_for_a_gpu_on_a_machine_without_one_is_a_usage_error(tmp_path, monkeypatch, capsys):
    err = usage_error(["--reference", str(tmp_path), "--device", "cuda"], monkeypatch, capsys)
    assert "--device cuda: this machine has no CUDA GPU" in err
