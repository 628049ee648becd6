"""`videolights train`, `videolights predict`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    train = subparsers.add_parser(
        "train",
        help="train VideoLights (pretrain, finetune, resume)",
        description="Train VideoLights on annotations (JSONL or synthetic Parquet) and features.",
    )
    train.add_argument("--config", default="qvhighlights", help="a preset name or a YAML file")
    train.add_argument("--train-annotations", type=Path, required=True)
    train.add_argument("--val-annotations", type=Path)
    _feature_arguments(train)
    train.add_argument("--out", type=Path, required=True)
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float)
    train.add_argument("--eval-every", type=int)
    train.add_argument("--seed", type=int)
    train.add_argument("--init-from", type=Path, help="start from this checkpoint's weights")
    train.add_argument("--resume", action="store_true", help="continue the run in --out")
    train.add_argument(
        "--skip-missing-features",
        action="store_true",
        help="skip (and count) samples whose feature files are missing or unreadable",
    )
    train.add_argument("--device", default="auto")
    train.set_defaults(handler=run_train)

    predict = subparsers.add_parser("predict", help="write a submission from a checkpoint")
    predict.add_argument("--checkpoint", type=Path, required=True)
    predict.add_argument("--annotations", type=Path, required=True)
    _feature_arguments(predict)
    predict.add_argument("--out", type=Path, required=True, help="submission JSONL")
    predict.add_argument("--device", default="auto")
    predict.set_defaults(handler=run_predict)

    imported = subparsers.add_parser(
        "import-checkpoint", help="convert a reference VideoLights checkpoint to ours"
    )
    imported.add_argument("reference", type=Path, help="a checkpoint saved by the reference code")
    imported.add_argument("out", type=Path)
    imported.set_defaults(handler=run_import)


def _feature_arguments(parser) -> None:
    parser.add_argument(
        "--video-feature-dirs",
        type=Path,
        nargs="+",
        required=True,
        help="video feature folders, in concatenation order",
    )
    parser.add_argument("--text-feature-dirs", type=Path, nargs="+", required=True)


def run_train(args: argparse.Namespace) -> int:
    from model.train import TrainSettings, train
    from pipeline.store import FeatureFileError

    try:
        settings = TrainSettings(
            train_annotations=args.train_annotations,
            val_annotations=args.val_annotations,
            video_feature_dirs=tuple(args.video_feature_dirs),
            text_feature_dirs=tuple(args.text_feature_dirs),
            out=args.out,
            config=args.config,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            eval_every=args.eval_every,
            seed=args.seed,
            init_from=args.init_from,
            resume=args.resume,
            device=args.device,
        )
        result = train(settings)
    except (ValueError, FileNotFoundError, FeatureFileError) as error:
        print(f"videolights train: {error}", file=sys.stderr)
        return 2
    print(
        json.dumps(
            {
                "best_checkpoint": str(result.best_checkpoint),
                "epochs": result.epochs,
                "metrics": result.metrics,
            },
            indent=2,
        )
    )
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from model.predict import predict
    from pipeline.store import FeatureFileError

    try:
        path = predict(
            args.checkpoint,
            args.annotations,
            args.video_feature_dirs,
            args.text_feature_dirs,
            args.out,
            args.device,
        )
    except (ValueError, FileNotFoundError, FeatureFileError) as error:
        print(f"videolights predict: {error}", file=sys.stderr)
        return 2
    print(f"submission: {path}")
    return 0


def run_import(args: argparse.Namespace) -> int:
    import pickle

    from model.compat import import_checkpoint

    try:
        path = import_checkpoint(args.reference, args.out)
    except (ValueError, FileNotFoundError, RuntimeError, pickle.UnpicklingError) as error:
        print(f"videolights import-checkpoint: {error}", file=sys.stderr)
        return 2
    print(f"imported: {path}")
    return 0
