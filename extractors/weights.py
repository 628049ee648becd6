"""Where encoder weights come from: the one place that knows file names, URLs and checksums.

Weights are looked for, in order, at the path the user gives (a file, or a folder holding one of
the accepted names), then in $VIDEOLIGHTS_WEIGHTS, then in ~/.cache/videolights/weights.
`videolights weights fetch NAME` downloads them on a machine with internet and records their
SHA-256 in `checksums.json` beside them; loading verifies a file against that record.
Loading is safe: safetensors, `torch.load(weights_only=True)`, or a restricted unpickler for
Caffe2 pickles.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline.store import atomic_write, atomic_write_json

CHECKSUMS = "checksums.json"


@dataclass(frozen=True)
class WeightSource:
    """An encoder's weights: the names accepted on disk (the first is what `fetch` writes) and
    where to download them (a URL, or `hf:` + a Hugging Face repository for a folder)."""

    encoder: str
    description: str
    names: tuple[str, ...]
    url: str

    @property
    def is_folder(self) -> bool:
        return self.url.startswith("hf:")


SOURCES = {
    "clip": WeightSource(
        "clip",
        "CLIP ViT-B/32, OpenAI weights in open_clip's layout",
        ("open_clip_model.safetensors", "open_clip_pytorch_model.bin"),
        "https://huggingface.co/timm/vit_base_patch32_clip_224.openai/resolve/main/"
        "open_clip_model.safetensors",
    ),
    "slowfast": WeightSource(
        "slowfast",
        "SlowFast R50 8x8 on Kinetics-400 (pytorchvideo layout, or the Caffe2-layout .pkl of "
        "facebookresearch/SlowFast that the released QVHighlights features were made with)",
        ("SLOWFAST_8x8_R50.pyth", "SLOWFAST_8x8_R50.pkl"),
        "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/SLOWFAST_8x8_R50.pyth",
    ),
    "blip2": WeightSource(
        "blip2",
        "BLIP-2 feature extractor (Salesforce/blip2-itm-vit-g, a Hugging Face folder)",
        ("blip2-itm-vit-g",),
        "hf:Salesforce/blip2-itm-vit-g",
    ),
    "blip2-captioner": WeightSource(
        "blip2-captioner",
        "BLIP-2 captioner (Salesforce/blip2-opt-2.7b, a Hugging Face folder)",
        ("blip2-opt-2.7b",),
        "hf:Salesforce/blip2-opt-2.7b",
    ),
}


class WeightsNotFoundError(FileNotFoundError):
    """No weights where they were looked for; the message says how to fetch them."""


class WeightsChecksumError(ValueError):
    """A weight file differs from the checksum recorded when it was fetched."""


def search_dirs(weights: Path | None = None) -> list[Path]:
    dirs = [weights] if weights is not None else []
    if os.environ.get("VIDEOLIGHTS_WEIGHTS"):
        dirs.append(Path(os.environ["VIDEOLIGHTS_WEIGHTS"]))
    dirs.append(Path.home() / ".cache" / "videolights" / "weights")
    return dirs


def resolve(encoder: str, weights: str | Path | None = None) -> Path:
    """The weight file (or folder) of `encoder`. Raises WeightsNotFoundError naming the files
    and folders tried and the command that fetches them."""
    source = SOURCES[encoder]
    weights = Path(weights) if weights is not None else None
    if weights is not None and weights.is_file():
        return weights
    tried = []
    for folder in search_dirs(weights):
        for name in source.names:
            candidate = folder / name
            tried.append(str(candidate))
            if candidate.is_file() or (source.is_folder and (candidate / "config.json").is_file()):
                return candidate
    raise WeightsNotFoundError(
        f"{source.description}: weights not found. Looked for {' or '.join(source.names)} in: "
        f"{', '.join(str(folder) for folder in search_dirs(weights))}. On a machine with "
        f"internet run `videolights weights fetch {encoder} --to DIR` and pass --weights DIR "
        f"(or use --model-size tiny / --random-weights for random weights)."
    )


def sha256(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files (names and contents, sorted)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with file.open("rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def verify(path: Path) -> str:
    """The checksum of `path`, checked against `checksums.json` beside it when one lists it."""
    digest = sha256(path)
    record = path.parent / CHECKSUMS
    if record.is_file():
        expected = json.loads(record.read_text()).get(path.name)
        if expected is not None and expected != digest:
            raise WeightsChecksumError(
                f"{path}: SHA-256 {digest} differs from {expected} recorded in {record} "
                "(a corrupt or replaced file; fetch it again)"
            )
    return digest


def fetch(encoder: str, folder: str | Path) -> Path:
    """Download `encoder`'s weights into `folder` and record their checksum."""
    source, folder = SOURCES[encoder], Path(folder)
    target = folder / source.names[0]
    if source.is_folder:
        from huggingface_hub import snapshot_download

        snapshot_download(source.url.removeprefix("hf:"), local_dir=target)
    else:
        atomic_write(target, lambda temporary: urllib.request.urlretrieve(source.url, temporary))
    record = folder / CHECKSUMS
    checksums = json.loads(record.read_text()) if record.is_file() else {}
    checksums[target.name] = sha256(target)
    atomic_write_json(record, checksums)
    return target


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from safetensors or a torch checkpoint (weights only), unwrapping the
    usual containers ({"model_state": ...}, {"state_dict": ...}, {"model": ...})."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model_state", "state_dict", "model"):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
    return {name.removeprefix("module."): tensor for name, tensor in checkpoint.items()}
