"""Weights in each supported format load back to identical outputs; which file is chosen and
why; fetching (from a local HTTP server standing in for the origin) records checksums that
loading re-checks cheaply; missing or corrupt weights give clear errors."""

import functools
import hashlib
import http.server
import json
import os
import pickle
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from extractors import weights as weight_files
from extractors.registry import build_encoder
from extractors.slowfast import build_slowfast_model
from extractors.slowfast_caffe2 import pytorchvideo_to_caffe2
from extractors.weights import WeightsChecksumError, WeightsNotFoundError
from flows.cli import main


def clip_frames(n=32, clips=2):
    return np.random.default_rng(1).integers(0, 256, (clips, n, 224, 224, 3), dtype=np.uint8)


@pytest.mark.parametrize("filename", ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"])
def test_clip_weights_load_back_to_identical_outputs(tmp_path, filename):
    original = build_encoder("clip", size="tiny", device="cpu", seed=7)
    state = {k: v.contiguous() for k, v in original.module.state_dict().items()}
    if filename.endswith(".safetensors"):
        save_file(state, tmp_path / filename)
    else:
        torch.save({"state_dict": state}, tmp_path / filename)
    loaded = build_encoder("clip", size="tiny", weights=tmp_path, device="cpu", seed=0)
    batch = clip_frames(n=1)
    assert np.array_equal(loaded.encode_clips(batch), original.encode_clips(batch))
    assert loaded.provenance["weights"] == str(tmp_path / filename)
    assert len(loaded.provenance["sha256"]) == 64


def seeded_slowfast(size: str, seed: int = 7) -> torch.nn.Module:
    """The pytorchvideo model `build_encoder(..., seed=seed)` starts from, before folding."""
    torch.manual_seed(seed)
    return build_slowfast_model(size)


def test_slowfast_pytorchvideo_checkpoint_loads_back(tmp_path):
    torch.save(
        {"model_state": seeded_slowfast("tiny").state_dict()}, tmp_path / "SLOWFAST_8x8_R50.pyth"
    )
    original = build_encoder("slowfast", size="tiny", device="cpu", seed=7)
    loaded = build_encoder("slowfast", size="tiny", weights=tmp_path, device="cpu", seed=0)
    batch = clip_frames()
    assert np.array_equal(loaded.encode_clips(batch), original.encode_clips(batch))


def test_slowfast_caffe2_pickle_loads_back(tmp_path):
    """A Caffe2-layout pickle (blob names, numpy arrays, Python-2 protocol) of a full-size
    random model, as facebookresearch/SlowFast distributes SLOWFAST_8x8_R50.pkl."""
    blobs = {
        pytorchvideo_to_caffe2(key): tensor.numpy()
        for key, tensor in seeded_slowfast("full").state_dict().items()
        if not key.endswith("num_batches_tracked")
    }
    blobs["model_iter"] = np.array(0)
    with (tmp_path / "SLOWFAST_8x8_R50.pkl").open("wb") as stream:
        pickle.dump({"blobs": blobs}, stream, protocol=2)
    loaded = build_encoder("slowfast", size="full", weights=tmp_path, device="cpu")
    original = build_encoder("slowfast", size="full", device="cpu", random_weights=True, seed=7)
    batch = clip_frames(clips=1)
    assert np.array_equal(loaded.encode_clips(batch), original.encode_clips(batch))
    assert loaded.provenance["chosen_because"].startswith("the first choice")


def test_caffe2_pickle_with_code_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (print, ("this must never run",))

    with (tmp_path / "SLOWFAST_8x8_R50.pkl").open("wb") as stream:
        pickle.dump({"blobs": {"x": Exploit()}}, stream)
    with pytest.raises(pickle.UnpicklingError):
        build_encoder("slowfast", size="tiny", weights=tmp_path, device="cpu")


def test_blip2_hugging_face_folder_loads_back(tmp_path):
    original = build_encoder("blip2", size="tiny", device="cpu", seed=7)
    folder = tmp_path / "blip2-itm-vit-g"
    original.module.save_pretrained(folder)
    original.tokenizer.save_pretrained(folder)
    loaded = build_encoder("blip2", size="full", weights=tmp_path, device="cpu")
    batch = clip_frames(n=1)
    assert np.array_equal(loaded.encode_clips(batch), original.encode_clips(batch))
    texts = ["a rabbit in a field"]
    assert np.array_equal(
        loaded.encode_texts(texts)[0].tokens, original.encode_texts(texts)[0].tokens
    )


def test_missing_weights_name_the_file_the_folders_and_the_fetch_command(tmp_path):
    with pytest.raises(WeightsNotFoundError) as caught:
        build_encoder("slowfast", size="full", weights=tmp_path / "weights", device="cpu")
    message = str(caught.value)
    assert "SLOWFAST_8x8_R50.pkl or SLOWFAST_8x8_R50.pyth" in message
    assert str(tmp_path / "weights") in message
    assert "videolights weights fetch slowfast --to DIR" in message


def test_slowfast_prefers_the_caffe2_pickle_of_the_released_features_and_says_why(tmp_path):
    # HERO's README: the released features' SlowFast weights and where they are published.
    assert weight_files.SOURCES["slowfast"].url == (
        "https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/kinetics400/SLOWFAST_8x8_R50.pkl"
    )
    (tmp_path / "SLOWFAST_8x8_R50.pyth").write_bytes(b"pytorchvideo")
    fallback = weight_files.choose("slowfast", tmp_path)
    assert fallback.path == tmp_path / "SLOWFAST_8x8_R50.pyth"
    assert "pytorchvideo's own training run" in fallback.reason
    assert "SLOWFAST_8x8_R50.pkl" in fallback.reason and str(tmp_path) in fallback.reason
    (tmp_path / "SLOWFAST_8x8_R50.pkl").write_bytes(b"caffe2")
    chosen = weight_files.choose("slowfast", tmp_path)
    assert chosen.path == tmp_path / "SLOWFAST_8x8_R50.pkl"
    assert chosen.reason.startswith("the first choice") and "HERO" in chosen.reason


@dataclass
class Server:
    folder: Path  # what it serves
    requested: list[str]  # the paths asked for


@pytest.fixture
def weights_server(tmp_path, monkeypatch):
    """A local HTTP server (127.0.0.1, a free port) standing in for the weights' origin, made
    the mirror `fetch` downloads from."""
    served = tmp_path / "served"
    served.mkdir()
    requested = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            requested.append(self.path)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(served))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(
        "VIDEOLIGHTS_WEIGHTS_MIRROR", f"http://127.0.0.1:{server.server_address[1]}/"
    )
    yield Server(served, requested)
    server.shutdown()
    thread.join()


def fetched_tiny_clip(weights_server, folder):
    """Publish a tiny CLIP's weights on the server, fetch them into `folder`: (encoder, file)."""
    original = build_encoder("clip", size="tiny", device="cpu", seed=7)
    state = {k: v.contiguous() for k, v in original.module.state_dict().items()}
    save_file(state, weights_server.folder / "open_clip_model.safetensors")
    return original, weight_files.fetch("clip", folder)


def test_fetch_downloads_and_records_a_checksum_and_file_stats(tmp_path, weights_server):
    original, target = fetched_tiny_clip(weights_server, tmp_path / "cache")
    assert weights_server.requested == ["/open_clip_model.safetensors"]
    published = (weights_server.folder / "open_clip_model.safetensors").read_bytes()
    assert target.read_bytes() == published
    recorded = json.loads((tmp_path / "cache" / "checksums.json").read_text())
    status = target.stat()
    assert recorded == {
        "open_clip_model.safetensors": {
            "sha256": hashlib.sha256(published).hexdigest(),
            "files": {"open_clip_model.safetensors": [status.st_size, status.st_mtime_ns]},
        }
    }
    loaded = build_encoder("clip", size="tiny", weights=tmp_path / "cache", device="cpu")
    batch = clip_frames(n=1)
    assert np.array_equal(loaded.encode_clips(batch), original.encode_clips(batch))
    assert loaded.provenance["sha256"] == hashlib.sha256(published).hexdigest()


def flip_last_byte(path, keep_time: bool):
    status = path.stat()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    if keep_time:
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


def test_same_size_and_time_is_not_hashed_again_but_verify_weights_catches_a_change(
    tmp_path, weights_server
):
    _, target = fetched_tiny_clip(weights_server, tmp_path / "cache")
    fetched_sha = hashlib.sha256(target.read_bytes()).hexdigest()
    flip_last_byte(target, keep_time=True)

    cheap = build_encoder("clip", size="tiny", weights=tmp_path / "cache", device="cpu")
    assert cheap.provenance["sha256"] == fetched_sha  # the record, not the changed bytes
    with pytest.raises(WeightsChecksumError, match="differs from"):
        build_encoder(
            "clip", size="tiny", weights=tmp_path / "cache", device="cpu", verify_weights=True
        )


def test_verify_weights_flag_exits_2_naming_the_changed_file(tmp_path, weights_server, capsys):
    _, target = fetched_tiny_clip(weights_server, tmp_path / "cache")
    flip_last_byte(target, keep_time=True)
    arguments = ["extract", "--videos", str(tmp_path / "no-videos"), "--out", str(tmp_path / "f")]
    arguments += ["--encoders", "clip", "--model-size", "tiny", "--device", "cpu"]
    arguments += ["--weights", str(tmp_path / "cache")]
    (tmp_path / "no-videos").mkdir()
    assert main(arguments) == 0
    assert main([*arguments, "--verify-weights"]) == 2
    error = capsys.readouterr().err
    assert str(target) in error and "differs from" in error


@pytest.mark.parametrize("change", ["content and time", "size, same time"])
def test_a_changed_size_or_time_is_hashed_again_and_caught(tmp_path, weights_server, change):
    _, target = fetched_tiny_clip(weights_server, tmp_path / "cache")
    if change == "content and time":
        flip_last_byte(target, keep_time=False)
        status = target.stat()
        os.utime(target, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
    else:
        status = target.stat()
        target.write_bytes(target.read_bytes() + b"\0")
        os.utime(target, ns=(status.st_atime_ns, status.st_mtime_ns))
    with pytest.raises(WeightsChecksumError, match="differs from"):
        weight_files.verify(target)


def test_a_touched_file_with_the_same_bytes_passes_and_its_record_is_refreshed(
    tmp_path, weights_server
):
    _, target = fetched_tiny_clip(weights_server, tmp_path / "cache")
    status = target.stat()
    os.utime(target, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))
    assert weight_files.verify(target) == hashlib.sha256(target.read_bytes()).hexdigest()
    recorded = json.loads((tmp_path / "cache" / "checksums.json").read_text())
    stats = recorded[target.name]["files"][target.name]
    assert stats == [status.st_size, status.st_mtime_ns + 1_000_000_000]


def test_the_hub_s_cache_and_lock_files_are_never_part_of_a_checksum(tmp_path):
    folder = tmp_path / "weights" / "blip2-itm-vit-g"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"weights")
    clean = tmp_path / "clean"
    shutil.copytree(folder, clean)
    digest = weight_files.verify(folder)  # first sight: hashed and recorded
    assert digest == weight_files.sha256(clean)

    bookkeeping = [
        ".cache/huggingface/download/model.safetensors.metadata",
        ".cache/huggingface/download/model.safetensors.lock",
        ".cache/huggingface/.gitignore",
        ".huggingface/download/config.json.metadata",
    ]
    for name in bookkeeping:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(name)
    assert weight_files.sha256(folder) == digest
    assert weight_files.verify(folder, full=True) == digest
    recorded = json.loads((tmp_path / "weights" / "checksums.json").read_text())
    assert set(recorded["blip2-itm-vit-g"]["files"]) == {"config.json", "model.safetensors"}


def test_hugging_face_downloads_only_the_files_loading_needs():
    # The file list of Salesforce/blip2-opt-2.7b's repository, plus formats some repositories add.
    repository = [
        ".gitattributes",
        "README.md",
        "added_tokens.json",
        "config.json",
        "generation_config.json",
        "merges.txt",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "preprocessor_config.json",
        "processor_config.json",
        "pytorch_model-00001-of-00002.bin",
        "pytorch_model-00002-of-00002.bin",
        "pytorch_model.bin.index.json",
        "special_tokens_map.json",
        "tf_model.h5",
        "flax_model.msgpack",
        "onnx/model.onnx",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.json",
    ]
    assert set(weight_files.hub_files(repository)) == {
        "added_tokens.json",
        "config.json",
        "generation_config.json",
        "merges.txt",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "preprocessor_config.json",
        "processor_config.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.json",
    }
    pickles_only = ["config.json", "pytorch_model.bin", "tf_model.h5", "vocab.txt"]
    assert set(weight_files.hub_files(pickles_only)) == {
        "config.json",
        "pytorch_model.bin",
        "vocab.txt",
    }
