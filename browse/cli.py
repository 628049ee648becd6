"""`videolights browse [WORK] [--synth SET] [--predictions PRED.jsonl --gt GT.jsonl]
[--videos DIR ...] [--checkpoint CKPT] [--host 127.0.0.1] [--port 8050]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "browse",
        help="look at a synthetic set and predictions on the videos, in a browser",
        description="A local web viewer. WORK is a folder with a lineage.json (e.g. work/demo): "
        "its synthetic set, predictions, ground truth and videos are shown; flags add or "
        "replace paths. Only files under the --videos folders are served.",
    )
    parser.add_argument("work", nargs="?", type=Path, help="a pipeline run's output folder")
    parser.add_argument("--synth", type=Path, help="a synthetic set (folder of Parquet shards)")
    parser.add_argument("--predictions", type=Path, help="a submission JSONL (with --gt)")
    parser.add_argument("--gt", type=Path, help="the ground truth JSONL of --predictions")
    parser.add_argument("--videos", type=Path, nargs="+", default=(), help="folders of videos")
    parser.add_argument("--checkpoint", type=Path, help="answer new queries with this model")
    parser.add_argument("--model-size", default="full", choices=("full", "tiny"))
    parser.add_argument("--weights", type=Path, help="encoder weights for new queries")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--cache", type=Path, help="feature cache (default ~/.cache/...)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8050)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from browse.sources import resolve

    sources = resolve(
        args.work,
        synth=args.synth,
        predictions=args.predictions,
        gt=args.gt,
        videos=tuple(args.videos),
        checkpoint=args.checkpoint,
        cache=args.cache,
    )
    _check_port(args.host, args.port)
    app = _build(sources, args)
    if args.host not in LOCAL_HOSTS:
        print(
            f"videolights browse: warning: listening on {args.host}: other machines can reach "
            "the viewer and every video under the served folders",
            file=sys.stderr,
        )
    import uvicorn

    print(f"videolights browse: http://{args.host}:{args.port}/ (Ctrl-C stops)")
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    server = uvicorn.Server(config)
    server.run()
    return 0


def _check_port(host: str, port: int) -> None:
    """Fail before loading anything when the address cannot be bound."""
    import socket

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as error:
        raise OSError(f"cannot listen on {host} port {port} ({error.strerror})") from None


def _build(sources, args):
    from browse.app import build_app
    from browse.ask import AskSettings

    ask = AskSettings(model_size=args.model_size, weights=args.weights, device=args.device)
    return build_app(sources, ask)
