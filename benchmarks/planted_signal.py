"""The model learns a planted signal: R1@0.5 and VeryGood HIT@1 reach 0.9 on held-out samples.

    python benchmarks/planted_signal.py [--samples 120] [--epochs 80]

Random features where the query's topic lights up one feature dimension inside its window, with
graded saliency (tests/model/conftest.py makes them); a small VideoLights (1 encoder layer,
2 decoder layers) trains on 80% and is scored on the rest every 10 epochs. Prints the metrics
and whether the targets are met. The test suite runs a 40-epoch version of this.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model.train import TrainSettings, train  # noqa: E402
from tests.model.conftest import planted_rows, write_jsonl  # noqa: E402

CONFIG = """base: qvhighlights
model: {encoder_layers: 1, decoder_layers: 2, ffn_dim: 256, input_dropout: 0.1}
optim: {lr: 0.0005, batch_size: 8, eval_every: 10, eval_batch_size: 16}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=120)
    parser.add_argument("--epochs", type=int, default=80)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="planted"))
    rows = planted_rows(root, args.samples)
    split = int(len(rows) * 0.8)
    (root / "small.yaml").write_text(CONFIG)
    started = time.perf_counter()
    result = train(
        TrainSettings(
            train_annotations=write_jsonl(root / "train.jsonl", rows[:split]),
            val_annotations=write_jsonl(root / "val.jsonl", rows[split:]),
            video_feature_dirs=(root / "clip_features",),
            text_feature_dirs=(root / "clip_text_features",),
            out=root / "run",
            config=root / "small.yaml",
            epochs=args.epochs,
            device="cpu",
        )
    )
    keys = ("MR-full-R1@0.5", "MR-full-R1@0.7", "MR-full-mIoU", "HL-min-VeryGood-Hit1")
    for record in json.loads((root / "run" / "history.json").read_text()):
        if "metrics" in record:
            print(record["epoch"], {k: record["metrics"][k] for k in keys})
    best = result.metrics
    met = best["MR-full-R1@0.5"] >= 90 and best["HL-min-VeryGood-Hit1"] >= 90
    print(
        f"best: R1@0.5 {best['MR-full-R1@0.5']}, VeryGood HIT@1 {best['HL-min-VeryGood-Hit1']}; "
        f"targets (>= 90) {'met' if met else 'NOT met'}; {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
