"""What the viewer shows: the command line's paths, or those a work folder's lineage records."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_CACHE = Path.home() / ".cache" / "videolights" / "browse"


class SourceError(ValueError):
    """A path that is missing or not what its flag says; the message names it."""


@dataclass(frozen=True)
class Sources:
    """Checked paths. `videos` are the only folders whose files are served."""

    synth: Path | None = None  # a synthetic set: a folder of Parquet shards
    predictions: Path | None = None  # a submission JSONL
    gt: Path | None = None  # its ground truth JSONL
    videos: tuple[Path, ...] = ()
    checkpoint: Path | None = None
    metrics: Path | None = None  # the metrics file written beside the predictions, if any
    cache: Path = field(default=DEFAULT_CACHE)

    def __post_init__(self):
        if (self.predictions is None) != (self.gt is None):
            raise SourceError("--predictions and --gt go together")
        if not (self.synth or self.predictions or self.checkpoint):
            raise SourceError(
                "nothing to show: give a work folder with a lineage.json, --synth, "
                "--predictions with --gt, or --checkpoint"
            )
        if self.synth is not None and not self.synth.is_dir():
            raise SourceError(f"{self.synth}: a synthetic set must be a folder of Parquet shards")
        for name in ("predictions", "gt", "checkpoint"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise SourceError(f"{path}: no such file (--{name})")
        for folder in self.videos:
            if not folder.is_dir():
                raise SourceError(f"{folder}: no such folder (--videos)")


def video_folder(path: Path) -> Path:
    """The folder to serve for a flow's `videos` parameter (a folder, or a file in one)."""
    return path if path.is_dir() else path.parent


def from_lineage(work: Path) -> dict:
    """Paths recorded by `pretrain-then-finetune` in `{work}/lineage.json`: the synthetic set,
    the evaluated predictions and their ground truth, the videos."""
    lineage = work / "lineage.json"
    try:
        record = json.loads(lineage.read_text())
        steps = {step["step"]: step for step in record["steps"]}
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise SourceError(f"{lineage}: not a readable lineage record ({error})") from None
    found: dict = {}
    videos = record.get("parameters", {}).get("videos")
    if videos:
        found["videos"] = (video_folder(Path(videos)),)
    if "synth" in steps:
        found["synth"] = Path(steps["synth"]["result"]["out"])
    if "evaluate" in steps:
        found["predictions"] = Path(steps["evaluate"]["result"]["submission"])
        found["gt"] = Path(steps["evaluate"]["inputs"]["gt"])
        found["metrics"] = Path(steps["evaluate"]["result"]["metrics_file"])
    if not found:
        raise SourceError(f"{lineage}: no synthetic set, predictions or videos recorded")
    return found


def resolve(work: Path | None, **flags) -> Sources:
    """The sources of a work folder (if given), with the flags' paths taking precedence."""
    found = {}
    if work is not None:
        if not work.is_dir():
            raise SourceError(f"{work}: no such folder")
        found = from_lineage(work)
    flags = {k: v for k, v in flags.items() if v is not None and v != ()}
    return Sources(**(found | flags))
