"""Ours against the reference implementation, trained on the same planted-signal set.

    python benchmarks/planted_vs_reference.py --reference PATH/TO/dpaul06-VideoLights --seeds 2
        [--epochs 40] [--jobs 2] [--sides ours,reference] [--device cpu|cuda] [--out DIR]

The set, generated here (seeded, the same for every training seed), has the released
QVHighlights layout: 384 training and 128 validation queries on 150 s videos (75 clips), video
features SlowFast (2304) + CLIP (512) + BLIP-2 (768) per clip and text features CLIP (512) +
BLIP-2 (768) per token, one query per video, one or two windows, three annotators' 0-4 scores
on the relevant clips. A query's topic (one of 32) adds a direction of each feature type to its
tokens and, scaled by the clip's mean score, to its window's clips; everything else is noise.

Each seed trains both sides from scratch for 40 epochs (--train, --val and --epochs make a
smaller version) with the VideoLights-B settings (batch 32, lr 1e-4, the launch scripts'
layers): ours with `videolights train --config qvhighlights-b`, the reference with its own
`train.py` code path (`start_training`; on a CPU patched only to run there: .cuda() is a no-op;
its loader has no worker processes, two imports the path never uses are stubbed). Both train in
float32 on --device: on a GPU ours' bf16 autocast is turned off, as the reference has none. Both
are scored on the validation queries every 5 epochs, each by its own evaluator (the official
one's figures; ours is tested equal to it). Prints, per evaluation epoch, the mean and standard
deviation over seeds of R1@0.5, VeryGood HIT@1 and the training loss of each side, then at the
last epoch, over every seed each side finished, the issue's goal, each gap in means with its 95%
interval (Welch's t) and a permutation test's p (exact up to 9 seeds a side, sampled beyond),
and writes every figure to {out}/results.json. Each reference run's last weights are also scored
by our import, prediction and evaluator, beside its own figures (equal evaluation paths give
equal figures). Each run takes one thread (OMP_NUM_THREADS=1); --jobs runs that many at once.
Runs resume: a side and seed whose {out}/{side}_{seed}/figures.json holds the same number of
epochs is kept, not trained again (give --out to rerun into a folder).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import math
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import scipy.stats

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.store import (  # noqa: E402
    TEXT_FOLDERS,
    VIDEO_FOLDERS,
    atomic_write_json,
    write_text_features,
    write_video_features,
)

TRAIN, VAL, CLIPS, TOPICS = 384, 128, 75, 32
EVAL_EVERY = 5  # the reference's train.py scores the validation queries every 5 epochs
VIDEO = {"slowfast": 2304, "clip": 512, "blip2": 768}  # in the order the features are joined
TEXT = {"clip": 512, "blip2": 768}
METRICS = {"R1@0.5": "MR-full-R1@0.5", "HIT@1": "HL-min-VeryGood-Hit1"}
FIGURES = "figures.json"  # one run's figures, written when it ends
SIGNAL = 2.5  # the planted direction's length against N(0, 1) noise per dimension


def _unit(rng, *shape) -> np.ndarray:
    x = rng.normal(size=shape)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _window(rng, taken: list[list[int]]) -> list[int] | None:
    """[first clip, end clip) of 2 to 15 clips, a clip apart from the windows taken (None when
    ten draws found no room)."""
    for _ in range(10):
        length = int(rng.integers(2, 16))
        start = int(rng.integers(0, CLIPS - length))
        if all(start > end or start + length < first for first, end in taken):
            return [start, start + length]
    return None


def generate(root: Path, train: int = TRAIN, val: int = VAL, seed: int = 0) -> tuple[Path, Path]:
    """Write the planted set under `root`; returns the training and validation annotations."""
    rng = np.random.default_rng(seed)
    video_topics = {name: _unit(rng, TOPICS, dim) for name, dim in VIDEO.items()}
    text_topics = {name: _unit(rng, TOPICS, dim) for name, dim in TEXT.items()}
    rows = []
    for index in range(train + val):
        topic = int(rng.integers(TOPICS))
        windows = [_window(rng, [])]
        if rng.random() < 0.3:
            windows.append(_window(rng, windows))
        windows = sorted(w for w in windows if w is not None)
        ids = [c for start, end in windows for c in range(start, end)]
        scores = rng.integers(1, 5, (len(ids), 3))
        strength = np.zeros(CLIPS)
        strength[ids] = scores.mean(1) / 4
        vid = f"planted{index:04d}"
        for name, dim in VIDEO.items():
            background = rng.normal(size=dim)
            clips = rng.normal(size=(CLIPS, dim)) + background
            clips += SIGNAL * strength[:, None] * video_topics[name][topic] * dim**0.5 / 8
            write_video_features(root, name, vid, clips)
        tokens = int(rng.integers(8, 20))
        for name, dim in TEXT.items():
            count = tokens + (name == "blip2")  # BLIP-2's [CLS]/[SEP] against CLIP's SOT/EOT
            words = rng.normal(size=(count, dim))
            words += SIGNAL * text_topics[name][topic] * dim**0.5 / 8
            write_text_features(root, name, index, words, words[0])
        rows.append(
            {
                "qid": index,
                "query": f"topic {topic}",
                "vid": vid,
                "duration": 2.0 * CLIPS,
                "relevant_windows": [[2 * start, 2 * end] for start, end in windows],
                "relevant_clip_ids": ids,
                "saliency_scores": scores.tolist(),
            }
        )
    paths = []
    for name, part in (("train", rows[:train]), ("val", rows[train:])):
        path = root / f"planted_{name}.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in part))
        paths.append(path)
    return paths[0], paths[1]


def run_ours(data: Path, out: Path, seed: int, epochs: int, device: str) -> dict[int, dict]:
    from model.train import TrainSettings, train

    train(
        TrainSettings(
            train_annotations=data / "planted_train.jsonl",
            val_annotations=data / "planted_val.jsonl",
            video_feature_dirs=tuple(data / VIDEO_FOLDERS[name] for name in VIDEO),
            text_feature_dirs=tuple(data / TEXT_FOLDERS[name] for name in TEXT),
            out=out,
            config="qvhighlights-b",
            epochs=epochs,
            eval_every=EVAL_EVERY,
            seed=seed,
            device=device,
            mixed_precision="off",  # float32, as the reference trains
        )
    )
    history = json.loads((out / "history.json").read_text())
    return {r["epoch"]: r["metrics"] for r in history if "metrics" in r}


def run_reference(reference: Path, data: Path, out: Path, seed: int, epochs: int, device: str):
    import torch

    sys.path.insert(0, str(reference))
    if device == "cpu":  # its decoder calls .cuda() whatever --device says
        torch.Tensor.cuda = lambda self, *args, **kwargs: self
    torchtext = types.ModuleType("torchtext")  # GloVe queries (Charades VGG) only
    fvcore = types.ModuleType("fvcore")  # FLOP counting only
    fvcore.nn = types.SimpleNamespace(FlopCountAnalysis=None)
    sys.modules.update({"torchtext": torchtext, "fvcore": fvcore, "fvcore.nn": fvcore.nn})
    torchtext.vocab = None
    from video_lights import train as reference_train

    # The arguments of its scripts/qvhl/train.sh (VideoLights-B), on the CPU.
    sys.argv = [
        "train.py",
        "--dset_name", "hl",
        "--ctx_mode", "video_tef",
        "--train_path", str(data / "planted_train.jsonl"),
        "--eval_path", str(data / "planted_val.jsonl"),
        "--eval_split_name", "val",
        "--v_feat_dirs", *(str(data / VIDEO_FOLDERS[name]) for name in VIDEO),
        "--v_feat_dim", str(sum(VIDEO.values())),
        "--t_feat_dirs", *(str(data / TEXT_FOLDERS[name]) for name in TEXT),
        "--t_feat_dim", str(sum(TEXT.values())),
        "--bsz", "32",
        "--dec_layers", "3",
        "--enc_layers", "3",
        "--bicmf_layers", "1",
        "--mr_to_hd_loss",
        "--hard_pos_neg_loss",
        "--contrastive_align_loss",
        "--contrastive_align_loss_coef", "0.2",
        "--results_root", str(out),
        "--exp_id", f"seed{seed}",
        "--device", "-1" if device == "cpu" else "0",
        "--hidden_dim", "256",
        "--seed", str(seed),
        "--n_epoch", str(epochs),
        "--num_workers", "0",
        "--no_pin_memory",
    ]  # fmt: skip
    opt = reference_train.start_training()[-1]
    figures = {}
    for line in Path(opt.eval_log_filepath).read_text().splitlines():
        epoch = int(line.split("[Epoch] ")[1].split()[0]) + 1  # it logs the 0-based index
        figures[epoch] = json.loads(line.split("[Metrics] ")[1])["brief"]
    return figures


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def score_reference_weights(run: Path, data: Path, device: str) -> dict[str, float]:
    """A reference run's last weights scored by our import, prediction and evaluator. Its own
    evaluator scored the same weights at its last epoch: the figures are equal when the two
    evaluation paths are, so a gap in the table is one of training."""
    from model.compat import import_checkpoint
    from model.eval import evaluate_files
    from model.predict import predict

    (checkpoint,) = run.glob("*/model_latest.ckpt")
    submission = predict(
        import_checkpoint(checkpoint, run / "imported.ckpt"),
        data / "planted_val.jsonl",
        [data / VIDEO_FOLDERS[name] for name in VIDEO],
        [data / TEXT_FOLDERS[name] for name in TEXT],
        run / "imported_val_preds.jsonl",
        device=device,
    )
    metrics = evaluate_files(submission, data / "planted_val.jsonl")["brief"]
    return {k: metrics[v] for k, v in METRICS.items()}


def _run(
    side: str, reference: Path, data: Path, out: Path, seed: int, epochs: int, device: str
) -> None:
    """Train one side for one seed on `device`; its figures go to {out}/figures.json, written
    last."""
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    if side == "ours":
        figures = run_ours(data, out, seed, epochs, device)
    else:
        figures = run_reference(reference, data, out, seed, epochs, device)
    metrics = {e: {k: m[v] for k, v in METRICS.items()} for e, m in figures.items()}
    atomic_write_json(
        out / FIGURES,
        {
            "seconds": time.perf_counter() - started,
            "epochs": epochs,
            "device": device,
            "metrics": metrics,
        },
    )


def training_losses(side: str, run: Path) -> dict[int, float]:
    """Epoch -> the mean total training loss over its steps, as each side logs it."""
    if side == "ours":
        history = json.loads((run / "history.json").read_text())
        return {r["epoch"]: r["loss"] for r in history}
    (log,) = run.glob("*/train.log.txt")
    losses = {}
    for line in log.read_text().splitlines():
        if "loss_overall" in line:
            epoch = int(line.split("[Epoch] ")[1].split()[0])  # 1-based in this log
            losses[epoch] = float(line.split("loss_overall ")[1].split()[0])
    return losses


def load_results(out: Path, sides: list[str], seeds: list[int], epochs: int) -> dict:
    """(side, seed) -> figures and training losses of the runs under `out` that finished
    `epochs` epochs."""
    results = {}
    for side in sides:
        for seed in seeds:
            path = out / f"{side}_{seed}" / FIGURES
            if path.is_file():
                result = json.loads(path.read_text())
                if result["epochs"] == epochs:
                    result["metrics"] = {int(e): m for e, m in result["metrics"].items()}
                    result["loss"] = training_losses(side, path.parent)
                    results[(side, seed)] = result
    return results


def summarise(results: dict, seeds: list[int]) -> list[str]:
    """One row per evaluation epoch: each metric's and the training loss's mean ± sample
    standard deviation over the seeds, ours then the reference's."""
    epochs = sorted({e for r in results.values() for e in r["metrics"]})
    columns = {metric: lambda r, e, m=metric: r["metrics"][e][m] for metric in METRICS}
    columns["training loss"] = lambda r, e: r["loss"][e]
    header = " | ".join(f"{name} {side}" for name in columns for side in ("ours", "reference"))
    lines = [f"| epoch | {header} |", "|---" * (1 + 2 * len(columns)) + "|"]
    for epoch in epochs:
        cells = []
        for value in columns.values():
            for side in ("ours", "reference"):
                runs = [results.get((side, s)) for s in seeds]
                values = [value(r, epoch) for r in runs if r and epoch in r["metrics"]]
                cell = f"{statistics.mean(values):.1f}" if values else "-"
                if len(values) > 1:
                    cell += f" ± {statistics.stdev(values):.1f}"
                cells.append(cell)
        lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
    return lines


EXACT_SPLITS = 200_000  # up to 9 seeds a side (48,620 splits); 10 a side has 184,756
RESAMPLES = 100_000


def permutation_p(ours: list[float], reference: list[float]) -> float:
    """Two-sided permutation test of a difference in means: the share of ways to split the
    pooled seeds into groups of these sizes whose means differ at least as much as the observed
    ones (small p: the two runs' figures are unlikely to share one distribution). Exact over
    all splits up to EXACT_SPLITS; beyond (30 seeds a side have 1.2e17), RESAMPLES random
    splits from a fixed seed, with the observed split counted in: (hits + 1) / (RESAMPLES + 1),
    which is never 0 and errs towards a larger p (Phipson and Smyth 2010)."""
    pooled, size = ours + reference, len(ours)
    observed = abs(statistics.mean(ours) - statistics.mean(reference))
    total = sum(pooled)
    if math.comb(len(pooled), size) <= EXACT_SPLITS:
        splits = list(itertools.combinations(pooled, size))
        gaps = (abs(sum(a) / size - (total - sum(a)) / (len(pooled) - size)) for a in splits)
        return sum(gap >= observed - 1e-9 for gap in gaps) / len(splits)
    rng = np.random.default_rng(0)
    shuffled = rng.permuted(np.tile(np.asarray(pooled, dtype=float), (RESAMPLES, 1)), axis=1)
    group = shuffled[:, :size].sum(axis=1)
    gaps = np.abs(group / size - (total - group) / (len(pooled) - size))
    return (int((gaps >= observed - 1e-9).sum()) + 1) / (RESAMPLES + 1)


def spread_p(ours: list[float], reference: list[float]) -> float:
    """Permutation test of a difference in spread: of the absolute deviations from each
    group's median (Brown and Forsythe's statistic)."""
    ours_median, reference_median = statistics.median(ours), statistics.median(reference)
    return permutation_p(
        [abs(x - ours_median) for x in ours], [abs(x - reference_median) for x in reference]
    )


def mean_gap_interval(ours: list[float], reference: list[float]) -> tuple[float, float]:
    """The 95% confidence interval of ours' mean minus the reference's (Welch's t, which does
    not assume equal spreads): how far below or above the reference ours may be."""
    interval = scipy.stats.ttest_ind(ours, reference, equal_var=False).confidence_interval(0.95)
    return float(interval.low), float(interval.high)


def verdict(results: dict, epoch: int) -> list[str]:
    """The issue's goal at `epoch`, per metric, over every seed each side finished: ours at
    least the reference's mean, with a standard deviation no wider; the gap in means with its
    95% interval, and the permutation test's p."""
    lines = []
    for metric in METRICS:
        figures = {"ours": [], "reference": []}
        for (side, _), result in sorted(results.items()):
            figures[side].append(result["metrics"][epoch][metric])
        mean = {side: statistics.mean(values) for side, values in figures.items()}
        spread = {side: statistics.stdev(values) for side, values in figures.items()}
        met = mean["ours"] >= mean["reference"] and spread["ours"] <= spread["reference"]
        low, high = mean_gap_interval(figures["ours"], figures["reference"])
        lines.append(
            f"epoch {epoch} {metric}: ours {mean['ours']:.1f} ± {spread['ours']:.1f} "
            f"({len(figures['ours'])} seeds), reference {mean['reference']:.1f} ± "
            f"{spread['reference']:.1f} ({len(figures['reference'])}): "
            f"goal {'met' if met else 'not met'} "
            f"(gap in means {mean['ours'] - mean['reference']:+.1f}, 95% interval "
            f"{low:+.1f} to {high:+.1f}; p = "
            f"{permutation_p(figures['ours'], figures['reference']):.2f})"
        )
    return lines


def count(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return int(text)


def side_list(text: str) -> list[str]:
    """An argparse type: a comma-separated choice of ours and reference."""
    chosen = text.split(",")
    if not set(chosen) <= {"ours", "reference"}:
        raise argparse.ArgumentTypeError(f"must be ours, reference or both, got {text!r}")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, help="needed unless --sides ours")
    parser.add_argument("--seeds", type=count, default=2, help="seeds 2018, 2019, ...")
    parser.add_argument("--epochs", type=count, default=40, help="a multiple of 5")
    parser.add_argument("--train", type=count, default=TRAIN, help="training queries")
    parser.add_argument("--val", type=count, default=VAL, help="validation queries")
    parser.add_argument("--jobs", type=count, default=2)
    parser.add_argument("--sides", type=side_list, default="ours,reference")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.epochs % EVAL_EVERY:
        parser.error(
            f"--epochs {args.epochs}: give a multiple of {EVAL_EVERY}, the epochs at which the "
            "reference scores its validation queries"
        )
    if args.device == "cuda" and not cuda_available():
        parser.error("--device cuda: this machine has no CUDA GPU that torch can use")
    if "reference" in args.sides:
        if args.reference is None:
            parser.error("--reference PATH/TO/dpaul06-VideoLights is needed to train its side")
        if not (args.reference / "video_lights" / "train.py").is_file():
            parser.error(f"--reference {args.reference}: not a dpaul06/VideoLights checkout")
        if importlib.util.find_spec("sklearn") is None:
            parser.error('the reference\'s evaluator needs scikit-learn: pip install -e ".[bench]"')
    out = args.out or Path(tempfile.mkdtemp(prefix="planted_vs_reference"))
    data = out / "data"
    if not (data / "planted_val.jsonl").is_file():
        generate(data, args.train, args.val)
    os.environ["OMP_NUM_THREADS"] = "1"
    seeds = [2018 + k for k in range(args.seeds)]
    done = load_results(out, args.sides, seeds, args.epochs)
    jobs = [(side, seed) for seed in seeds for side in args.sides if (side, seed) not in done]
    if done:
        print(f"kept {len(done)} finished runs under {out}: {sorted(done)}")
    context = multiprocessing.get_context("spawn")
    running: list = []
    while jobs or running:
        running = [p for p in running if p.is_alive()]
        while jobs and len(running) < args.jobs:
            side, seed = jobs.pop(0)
            run_dir = out / f"{side}_{seed}"
            run = (side, args.reference, data, run_dir, seed, args.epochs, args.device)
            process = context.Process(target=_run, args=run)
            process.start()
            running.append(process)
        time.sleep(5)
    results = load_results(out, args.sides, seeds, args.epochs)
    for (side, seed), result in sorted(results.items()):
        if side == "reference":
            result["scored_by_ours"] = score_reference_weights(
                out / f"{side}_{seed}", data, args.device
            )
    atomic_write_json(
        out / "results.json",
        [{"side": s, "seed": d} | r for (s, d), r in sorted(results.items())],
    )
    print(f"{len(seeds)} seeds ({', '.join(map(str, seeds))}), mean ± standard deviation:")
    print("\n".join(summarise(results, seeds)))
    if all(sum(s == side for s, _ in results) > 1 for side in ("ours", "reference")):
        print("\n".join(verdict(results, args.epochs)))
    for (side, seed), result in sorted(results.items()):
        print(f"{side} seed {seed}: {result['seconds'] / 60:.1f} min")
        if side == "reference":
            own, ours = result["metrics"][args.epochs], result["scored_by_ours"]
            print(
                f"  its epoch-{args.epochs} weights, scored by its evaluation / by ours: "
                + ", ".join(f"{k} {own[k]} / {ours[k]}" for k in METRICS)
            )
    print(f"figures: {out / 'results.json'}")


if __name__ == "__main__":
    main()
