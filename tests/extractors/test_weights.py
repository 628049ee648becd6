"""Weights in each supported format load back to identical outputs; missing or corrupt weights
give clear errors."""

import json
import pickle

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from extractors import weights as weight_files
from extractors.registry import build_encoder
from extractors.slowfast import build_slowfast_model
from extractors.slowfast_caffe2 import pytorchvideo_to_caffe2
from extractors.weights import WeightsChecksumError, WeightsNotFoundError


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
    assert "SLOWFAST_8x8_R50.pyth or SLOWFAST_8x8_R50.pkl" in message
    assert str(tmp_path / "weights") in message
    assert "videolights weights fetch slowfast --to DIR" in message


def test_fetch_records_a_checksum_that_loading_verifies(tmp_path, monkeypatch):
    source = tmp_path / "published.safetensors"
    original = build_encoder("clip", size="tiny", device="cpu", seed=7)
    save_file({k: v.contiguous() for k, v in original.module.state_dict().items()}, source)
    entry = weight_files.SOURCES["clip"]
    monkeypatch.setitem(
        weight_files.SOURCES,
        "clip",
        weight_files.WeightSource("clip", entry.description, entry.names, source.as_uri()),
    )
    target = weight_files.fetch("clip", tmp_path / "cache")
    recorded = json.loads((tmp_path / "cache" / "checksums.json").read_text())
    assert recorded == {"open_clip_model.safetensors": weight_files.sha256(source)}
    build_encoder("clip", size="tiny", weights=tmp_path / "cache", device="cpu")  # verifies

    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(WeightsChecksumError, match="differs from"):
        build_encoder("clip", size="tiny", weights=tmp_path / "cache", device="cpu")
