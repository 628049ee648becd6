"""Where encoder weights come from: the one place that knows file names, URLs and checksums.

Weights are looked for, in order, at the path the user gives (a file, or a folder holding one of
the accepted names), then in $VIDEOLIGHTS_WEIGHTS, then in ~/.cache/videolights/weights. In the
first folder that holds any, the encoder's first choice wins (for SlowFast the Caffe2 weights the
released QVHighlights features were made with, then pytorchvideo's); `identify` says which file it
chose and why (the log and the provenance record it).

`videolights weights fetch NAME` downloads them on a machine with internet (only the files that
loading needs, for a Hugging Face folder) and records their SHA-256 with each file's size and
modification time in `checksums.json` beside them. Loading re-checks sizes and times, which is
cheap, and hashes again only when they changed or when asked (`--verify-weights`). The hub's own
bookkeeping (`.cache/`, `.huggingface/`, lock files) is never part of a checksum.
$VIDEOLIGHTS_WEIGHTS_MIRROR (a base URL) makes `fetch` download every single-file source from
`{mirror}/{file name}` instead of its origin; $HF_ENDPOINT does the same for Hugging Face.
Loading is safe: safetensors, `torch.load(weights_only=True)`, or a restricted unpickler for
Caffe2 pickles.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

# pipeline.store (numpy) and urllib.request are imported where they are used: the command
# line's parser reads SOURCES, and `videolights --help` must not wait for them.

log = logging.getLogger(__name__)

CHECKSUMS = "checksums.json"
PYSLOWFAST_ZOO = "https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/kinetics400/"
PYTORCHVIDEO_ZOO = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/"


@dataclass(frozen=True)
class WeightSource:
    """Weights `fetch` can download: the encoder they are for, the names accepted on disk (the
    first is what `fetch` writes) and where they come from (a URL, or `hf:` + a Hugging Face
    repository for a folder)."""

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
        "SlowFast R50 8x8 on Kinetics-400, the Caffe2 weights of the SlowFast model zoo that "
        "HERO's extractor made the released QVHighlights features with",
        ("SLOWFAST_8x8_R50.pkl",),
        PYSLOWFAST_ZOO + "SLOWFAST_8x8_R50.pkl",
    ),
    "slowfast-pytorchvideo": WeightSource(
        "slowfast",
        "SlowFast R50 8x8 on Kinetics-400, pytorchvideo's own training run",
        ("SLOWFAST_8x8_R50.pyth",),
        PYTORCHVIDEO_ZOO + "SLOWFAST_8x8_R50.pyth",
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
# Files of a Hugging Face repository that loading a model and its tokenizer reads.
HUB_CONFIG_FILES = (
    "config.json",
    "generation_config.json",
    "preprocessor_config.json",
    "processor_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
)


class WeightsNotFoundError(FileNotFoundError):
    """No weights where they were looked for; the message says how to fetch them."""


class WeightsChecksumError(ValueError):
    """A weight file differs from the checksum recorded when it was fetched."""


@dataclass(frozen=True)
class ChosenWeights:
    path: Path
    reason: str


def search_dirs(weights: Path | None = None) -> list[Path]:
    dirs = [weights] if weights is not None else []
    if os.environ.get("VIDEOLIGHTS_WEIGHTS"):
        dirs.append(Path(os.environ["VIDEOLIGHTS_WEIGHTS"]))
    dirs.append(Path.home() / ".cache" / "videolights" / "weights")
    return dirs


def sources_for(encoder: str) -> list[str]:
    """The fetch names of `encoder`'s weights, first choice first (SOURCES' order)."""
    return [name for name, source in SOURCES.items() if source.encoder == encoder]


def _present(source: WeightSource, candidate: Path) -> bool:
    return candidate.is_file() or (source.is_folder and (candidate / "config.json").is_file())


def choose(encoder: str, weights: str | Path | None = None) -> ChosenWeights:
    """The weight file (or folder) of `encoder` and why it was chosen. Raises
    WeightsNotFoundError naming the files and folders tried and the command that fetches them."""
    weights = Path(weights) if weights is not None else None
    if weights is not None and weights.is_file():
        return ChosenWeights(weights, "the file given")
    names = sources_for(encoder)
    first = SOURCES[names[0]]
    for folder in search_dirs(weights):
        for rank, name in enumerate(names):
            source = SOURCES[name]
            found = [folder / n for n in source.names if _present(source, folder / n)]
            if not found:
                continue
            if len(names) == 1:
                reason = f"the first folder holding it ({source.description})"
            elif rank == 0:
                reason = f"the first choice: {source.description}"
            else:
                reason = (
                    f"{source.description}; the first choice, "
                    f"{' or '.join(first.names)} ({first.description}), is not in {folder}"
                )
            return ChosenWeights(found[0], reason)
    accepted = [n for name in names for n in SOURCES[name].names]
    raise WeightsNotFoundError(
        f"{first.description}: weights not found. Looked for {' or '.join(accepted)} in: "
        f"{', '.join(str(folder) for folder in search_dirs(weights))}. On a machine with "
        f"internet run `videolights weights fetch {names[0]} --to DIR` and pass --weights DIR "
        f"(or use --model-size tiny / --random-weights for random weights)."
    )


def resolve(encoder: str, weights: str | Path | None = None) -> Path:
    """The weight file (or folder) of `encoder`; see `choose`."""
    return choose(encoder, weights).path


def identify(encoder: str, weights: str | Path | None = None, full_check: bool = False) -> dict:
    """Provenance of `encoder`'s weights: path, SHA-256 (verified; see `verify`) and why this
    file was chosen, which is also logged."""
    chosen = choose(encoder, weights)
    log.info("%s weights: %s, chosen as %s", encoder, chosen.path, chosen.reason)
    return {
        "weights": str(chosen.path),
        "sha256": verify(chosen.path, full_check),
        "chosen_because": chosen.reason,
    }


def is_hub_bookkeeping(relative: Path) -> bool:
    """The hub's cache, metadata and lock files inside a downloaded folder: not weights."""
    return any(part.startswith(".") for part in relative.parts) or relative.suffix in {
        ".lock",
        ".incomplete",
    }


def files_of(path: Path) -> list[Path]:
    """A file, or a folder's files without the hub's bookkeeping, sorted."""
    if not path.is_dir():
        return [path]
    return sorted(
        file
        for file in path.rglob("*")
        if file.is_file() and not is_hub_bookkeeping(file.relative_to(path))
    )


def file_stats(path: Path) -> dict[str, list[int]]:
    """Size and modification time (ns) of each file: what a cheap check compares."""
    stats = {}
    for file in files_of(path):
        status = file.stat()
        stats[str(file.relative_to(path)) if path.is_dir() else file.name] = [
            status.st_size,
            status.st_mtime_ns,
        ]
    return stats


def sha256(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files (names and contents, sorted)."""
    digest = hashlib.sha256()
    for file in files_of(path):
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with file.open("rb") as stream:
            while block := stream.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def _records(folder: Path) -> dict:
    record = folder / CHECKSUMS
    return json.loads(record.read_text()) if record.is_file() else {}


def record_checksum(path: Path, digest: str | None = None) -> str:
    """Record `path`'s SHA-256 (hashed unless given) and file stats in `checksums.json`."""
    digest = digest or sha256(path)
    records = _records(path.parent)
    records[path.name] = {"sha256": digest, "files": file_stats(path)}
    from pipeline.store import atomic_write_json

    atomic_write_json(path.parent / CHECKSUMS, records)
    return digest


def verify(path: Path, full: bool = False) -> str:
    """The checksum of `path`. When `checksums.json` beside it records the same file sizes and
    times, the recorded checksum, without reading the files; otherwise (or when `full`) it hashes
    them, raises WeightsChecksumError if that differs from the record, and records it."""
    entry = _records(path.parent).get(path.name)
    if isinstance(entry, str):  # a record from before file stats were kept
        entry = {"sha256": entry}
    if entry is not None and not full and entry.get("files") == file_stats(path):
        return entry["sha256"]
    digest = sha256(path)
    if entry is not None and entry["sha256"] != digest:
        raise WeightsChecksumError(
            f"{path}: SHA-256 {digest} differs from {entry['sha256']} recorded in "
            f"{path.parent / CHECKSUMS} (a corrupt or replaced file; fetch it again)"
        )
    with contextlib.suppress(OSError):  # a read-only folder: hash again next time
        record_checksum(path, digest)
    return digest


def hub_files(repository_files: list[str]) -> list[str]:
    """The files of a Hugging Face repository that loading needs: configs, tokenizer files and
    one weight format (safetensors when there is any, else the PyTorch pickles)."""
    top = [name for name in repository_files if "/" not in name]
    safetensors = [
        n for n in top if n.endswith(".safetensors") or n.endswith(".safetensors.index.json")
    ]
    pickles = [
        n
        for n in top
        if n.startswith("pytorch_model") and (n.endswith(".bin") or n.endswith(".bin.index.json"))
    ]
    return [n for n in top if n in HUB_CONFIG_FILES] + (safetensors or pickles)


def download_url(source: WeightSource) -> str:
    mirror = os.environ.get("VIDEOLIGHTS_WEIGHTS_MIRROR")
    return f"{mirror.rstrip('/')}/{source.names[0]}" if mirror else source.url


def fetch(name: str, folder: str | Path) -> Path:
    """Download the weights `name` (a key of SOURCES) into `folder` and record their checksum."""
    source, folder = SOURCES[name], Path(folder)
    target = folder / source.names[0]
    if source.is_folder:
        from huggingface_hub import list_repo_files, snapshot_download

        repository = source.url.removeprefix("hf:")
        wanted = hub_files(list_repo_files(repository))
        snapshot_download(repository, local_dir=target, allow_patterns=wanted)
    else:
        import urllib.request

        from pipeline.store import atomic_write

        url = download_url(source)
        atomic_write(target, lambda temporary: urllib.request.urlretrieve(url, temporary))
    record_checksum(target)
    return target


def load_state_dict(path: Path) -> dict:
    """A state dict from safetensors or a torch checkpoint (weights only), unwrapping the
    usual containers ({"model_state": ...}, {"state_dict": ...}, {"model": ...})."""
    import torch  # here: the command line reads SOURCES without loading torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model_state", "state_dict", "model"):
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
    return {name.removeprefix("module."): tensor for name, tensor in checkpoint.items()}
