"""`videolights eval`, `train`, `predict` and `import-checkpoint`."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers) -> None:
    evaluate = subparsers.add_parser(
        "eval",
        help="score a submission (QVHighlights, moment-only sets, TVSum)",
        description="Score predictions in the QVHighlights submission format.",
    )
    evaluate.add_argument("--submission", required=True, type=Path, help="predictions, JSONL")
    evaluate.add_argument("--gt", required=True, type=Path, help="ground truth, JSONL")
    evaluate.add_argument("--out", type=Path, help="also write the metrics here (JSON)")
    evaluate.add_argument(
        "--dataset",
        default="auto",
        choices=("auto", "qvhighlights", "moments", "tvsum"),  # model.eval.DATASETS
        help="metric family; auto reads it from the ground truth's fields",
    )
    evaluate.set_defaults(handler=run_eval)

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
    train.add_argument(
        "--mixed-precision",
        default="auto",
        choices=("auto", "off", "bf16"),  # model.train.MIXED_PRECISION; no torch import at start
        help="bf16 autocast: auto = on a GPU only",
    )
    train.set_defaults(handler=run_train)

    predict = subparsers.add_parser(
        "predict",
        help="predict moments and saliency (annotation file, or a video and queries)",
        description="Either --annotations with feature folders, or --video with --query/--queries "
        "(features are extracted, or read from --features).",
    )
    predict.add_argument(
        "--checkpoint",
        type=Path,
        help="default: $VIDEOLIGHTS_CHECKPOINT, else ~/.cache/videolights/videolights.ckpt",
    )
    predict.add_argument("--out", type=Path, required=True, help="submission JSONL, or a folder")
    predict.add_argument("--device", default="auto")
    predict.add_argument("--annotations", type=Path)
    _feature_arguments(predict, required=False)
    predict.add_argument("--video", type=Path)
    predict.add_argument("--query", action="append", default=[], help="repeatable")
    predict.add_argument("--queries", type=Path, help="a text file, one query per line")
    predict.add_argument("--features", type=Path, help="precomputed video feature root")
    predict.add_argument("--model-size", default="full", choices=("full", "tiny"))
    predict.add_argument("--weights", type=Path)
    predict.add_argument("--preset", default="default", choices=("default", "qvhighlights"))
    predict.set_defaults(handler=run_predict)

    imported = subparsers.add_parser(
        "import-checkpoint", help="convert a reference VideoLights checkpoint to ours"
    )
    imported.add_argument("reference", type=Path, help="a checkpoint saved by the reference code")
    imported.add_argument("out", type=Path)
    imported.set_defaults(handler=run_import)


def _feature_arguments(parser, required: bool = True) -> None:
    parser.add_argument(
        "--video-feature-dirs",
        type=Path,
        nargs="+",
        required=required,
        help="video feature folders, in concatenation order",
    )
    parser.add_argument("--text-feature-dirs", type=Path, nargs="+", required=required)


def run_eval(args: argparse.Namespace) -> int:
    from model.eval import evaluate_files
    from pipeline.store import atomic_write_text

    text = json.dumps(evaluate_files(args.submission, args.gt, args.dataset), indent=4)
    print(text)
    if args.out:
        atomic_write_text(args.out, text + "\n")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from model.train import TrainSettings, train

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
        skip_missing_features=args.skip_missing_features,
        device=args.device,
        mixed_precision=args.mixed_precision,
    )
    result = train(settings)
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
    from model.checkpoints import default_checkpoint

    if args.checkpoint is None:
        args.checkpoint = default_checkpoint()
    if args.video is not None:
        _predict_video(args)
    elif args.annotations and args.video_feature_dirs and args.text_feature_dirs:
        from model.predict import predict

        path = predict(
            args.checkpoint,
            args.annotations,
            args.video_feature_dirs,
            args.text_feature_dirs,
            args.out,
            args.device,
        )
        print(f"submission: {path}")
    else:
        raise ValueError("give --video with --query, or --annotations with feature folders")
    return 0


def _predict_video(args: argparse.Namespace) -> None:
    from model.predict import VideoQuerySettings, predict_video

    queries = list(args.query)
    if args.queries is not None:
        queries += [line.strip() for line in args.queries.read_text().splitlines() if line.strip()]
    settings = VideoQuerySettings(
        checkpoint=args.checkpoint,
        video=args.video,
        queries=tuple(queries),
        out=args.out,
        features=args.features,
        model_size=args.model_size,
        weights=args.weights,
        preset=args.preset,
        device=args.device,
    )
    for prediction in predict_video(settings):
        print(f"query {prediction['qid']}: {prediction['query']}")
        for start, end, score in prediction["pred_relevant_windows"][:5]:
            print(f"  {start:7.1f} - {end:7.1f} s  score {score:.4f}")
        saliency = " ".join(f"{s:.2f}" for s in prediction["pred_saliency_scores"])
        print(f"  saliency per clip: {saliency}")
    print(f"predictions and plots: {args.out}")


def run_import(args: argparse.Namespace) -> int:
    from model.compat import import_checkpoint

    print(f"imported: {import_checkpoint(args.reference, args.out)}")
    return 0
