"""Every stage on a GPU, with the full architectures and random weights, in one table.

    python benchmarks/gpu_check.py [--device cuda] [--size full|tiny] [--precision auto]
                                   [--video PATH] [--repeat 2] [--steps 5]

For the first run on a machine with a GPU. It runs on any device: the test suite runs it with
`--device cpu --size tiny` so that it works the first time a GPU is there.
  extraction  clips/s of CLIP, SlowFast and BLIP-2, each alone and the three together (one decode
              of the video each time), at --precision (auto: fp16 on a GPU); the best of
              --repeat interleaved rounds;
  agreement   the least cosine, over the clips, between those features and fp32 ones (>= 0.999);
  synthesis   rows/s of `synth.generate` (intervals captioned per second, as benchmarks/synth.py
              counts them) with the BLIP-2 OPT-2.7b captioner and BLIP-2 phi;
  training    seconds per step of VideoLights-B at QVHighlights shapes (benchmarks/train.py's
              step), the median of --steps, under bf16 autocast on a GPU (training's
              `--mixed-precision auto`; fp32 on a CPU);
  resume      `model.train.train` on the planted set, 2 epochs straight against 1 epoch then
              resumed to 2, with the same autocast rule: the weights must be the same.
Prints one Markdown table; exits 1 when the agreement or the resume check fails.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import sys
import tempfile
from pathlib import Path

# cuBLAS is deterministic only with a fixed workspace; set before CUDA starts (resume check).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import torch  # noqa: E402
from extract import encoders_at, least_cosine, timed_pass  # noqa: E402  (this folder's)
from timing import interleaved  # noqa: E402
from train import BATCH, make_batch, time_steps, train_step  # noqa: E402

# benchmarks/synth.py is named like the package `synth`: leave this folder off the path now
# that its helpers are imported, and put the checkout's root first (for tests.model's data).
ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]
sys.path.insert(0, str(ROOT))

from extractors.registry import dtype_name, resolve_dtype  # noqa: E402
from model.checkpoints import build_model, load_checkpoint  # noqa: E402
from model.config import load_config  # noqa: E402
from model.losses import total_loss  # noqa: E402
from model.train import TrainSettings, make_optimizer, train  # noqa: E402
from pipeline.probe import probe  # noqa: E402
from synth.generate import SynthSettings, generate, load_models  # noqa: E402
from tests.model.conftest import planted_rows, write_jsonl  # noqa: E402

BUNDLED = ROOT / "tests/data/videos/big_buck_bunny_0_30.webm"
ENCODERS = ("clip", "slowfast", "blip2")
AGREEMENT = 0.999
MIXED = "auto"  # training's bf16 autocast on a GPU, fp32 on a CPU
TINY_MODEL = "{encoder_layers: 1, decoder_layers: 1, ffn_dim: 256}"


def release(device: torch.device) -> None:
    """Give the previous stage's models back before the next builds its own."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def extraction(video: Path, args) -> list[tuple]:
    info = probe(video)
    clips = info.num_clips()
    fast = encoders_at(args.precision, ENCODERS, args.size, args.device)
    exact = encoders_at("fp32", ENCODERS, args.size, args.device)
    passes = {
        name: (lambda n=name: timed_pass(info, {n: fast[n]}, args.precision)) for name in fast
    }
    passes["all"] = lambda: timed_pass(info, fast, args.precision)
    seconds, results = interleaved(passes, args.repeat)
    exact_features, _ = timed_pass(info, exact, "fp32")
    dtype = fast["clip"].provenance["dtype"]
    rows = [
        ("extraction", f"{name} alone, {dtype}, clips/s", f"{clips / min(seconds[name]):.2f}", None)
        for name in fast
    ]
    rows.append(
        ("extraction", "all three, one decode, clips/s", f"{clips / min(seconds['all']):.2f}", None)
    )
    features, _ = results["all"]
    for name in fast:
        cosine = least_cosine(features[name], exact_features[name])
        rows.append(
            (
                "agreement",
                f"{name}: least cosine per clip, {dtype} vs float32 ({clips} clips)",
                f"{cosine:.5f}",
                cosine >= AGREEMENT,
            )
        )
    return rows


def synthesis(video: Path, args, work: Path) -> list[tuple]:
    settings = SynthSettings(
        model_size=args.size,
        device=args.device,
        precision=args.precision,
        random_weights=args.size == "full",
    )
    models = load_models(settings)
    folder = work / "videos"
    folder.mkdir(parents=True)
    shutil.copy(video, folder / video.name)
    seconds, results = interleaved(
        {
            "synth": lambda: generate(
                folder, Path(tempfile.mkdtemp(dir=work)), settings, models=models
            )
        },
        args.repeat,
    )
    best = min(seconds["synth"])
    intervals = results["synth"].intervals
    return [
        ("synthesis", f"rows/s ({intervals} intervals captioned)", f"{intervals / best:.2f}", None)
    ]


def uses_autocast(device: torch.device) -> bool:
    """Training's own rule for `--mixed-precision auto`."""
    settings = TrainSettings(Path(), (Path(),), (Path(),), Path(), mixed_precision=MIXED)
    return settings.uses_autocast(device)


def training_step(args, device: torch.device) -> list[tuple]:
    batch = BATCH if args.size == "full" else 2
    config = load_config("qvhighlights-b")
    inputs, targets, _ = make_batch(batch=batch)
    inputs = {key: value.to(device) for key, value in inputs.items()}
    targets = targets.to(device)
    model = build_model(config, inputs["src_vid"].shape[-1], inputs["src_txt"].shape[-1]).to(device)

    def loss(outputs):
        return total_loss(outputs, targets, config.loss, epoch=0)[0]

    autocast = uses_autocast(device)
    step = train_step(model, loss, inputs, make_optimizer(model, config.optim), autocast)
    seconds = time_steps({"ours": step}, args.steps)["ours"]
    precision = "bf16 autocast" if autocast else "fp32"
    measure = f"s/step, VideoLights-B, batch {batch}, {precision}"
    return [("training", measure, f"{seconds:.3f}", None)]


def resume(args, work: Path) -> list[tuple]:
    work.mkdir(parents=True)
    annotations = write_jsonl(work / "train.jsonl", planted_rows(work, 16))
    config = "qvhighlights"
    if args.size == "tiny":  # the tests' small model: seconds on a CPU
        config = work / "tiny.yaml"
        config.write_text(f"base: qvhighlights\nmodel: {TINY_MODEL}\n")

    def run(out: str, epochs: int, again: bool = False):
        return train(
            TrainSettings(
                train_annotations=annotations,
                video_feature_dirs=(work / "clip_features",),
                text_feature_dirs=(work / "clip_text_features",),
                out=work / out,
                config=config,
                epochs=epochs,
                batch_size=8,
                device=args.device,
                mixed_precision=MIXED,
                resume=again,
            )
        )

    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        straight = run("straight", 2)
        run("split", 1)
        resumed = run("split", 2, again=True)
    finally:
        torch.use_deterministic_algorithms(False)
    a = load_checkpoint(straight.last_checkpoint)["model"]
    b = load_checkpoint(resumed.last_checkpoint)["model"]
    difference = max(float((a[name].float() - b[name].float()).abs().max()) for name in a)
    same = difference == 0.0
    verdict = f"{'yes' if same else 'NO'} (largest difference {difference:.3g})"
    return [("resume", "2 epochs straight vs 1 + resumed 1: same weights", verdict, same)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--size", default="full", choices=("full", "tiny"))
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    parser.add_argument("--video", type=Path, default=BUNDLED)
    parser.add_argument("--repeat", type=int, default=2, help="best of this many rounds")
    parser.add_argument("--steps", type=int, default=5, help="training steps timed")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    dtype = dtype_name(resolve_dtype(args.precision, device))
    print(f"gpu check on {args.device} ({name}), {args.size} sizes, random weights, {dtype}\n")

    table = []
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        for stage in (
            lambda: extraction(args.video, args),
            lambda: synthesis(args.video, args, work / "synth"),
            lambda: training_step(args, device),
            lambda: resume(args, work / "resume"),
        ):
            table += stage()
            release(device)

    print("| stage | measure | value | check |\n|---|---|---|---|")
    for stage, measure, value, ok in table:
        check = "" if ok is None else ("ok" if ok else "FAILED")
        print(f"| {stage} | {measure} | {value} | {check} |")
    return 1 if any(ok is False for *_, ok in table) else 0


if __name__ == "__main__":
    sys.exit(main())
