"""Build an encoder by name: the architecture for a size, then its weights.

    build_encoder("clip", size="full", weights=Path("~/weights"))   # real weights, or an error
    build_encoder("slowfast", size="tiny")                           # seeded random weights

Random weights are used only when asked for: `size="tiny"` without weights, or
`random_weights=True` (speed benchmarks of the full architectures). The encoder's
`provenance` says which, and the dtype that `precision` resolved to here.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from extractors import weights as weight_files
from extractors.base import Encoder

ENCODERS = ("clip", "slowfast", "blip2")
SIZES = ("full", "tiny")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU multiplies bf16 matrices in hardware (AVX512-BF16 or AMX), where bf16
    runs 2.4x faster than fp32 (an 800x768x3072 product on 2 EPYC cores). Without them bf16
    is emulated and slower, so `auto` keeps fp32."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:  # not Linux: no cheap way to know, stay exact
            return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) is not None


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def resolve_dtype(precision: str, device: torch.device) -> torch.dtype:
    """`auto`: fp16 on a GPU, bf16 on a CPU with native bf16, fp32 otherwise."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")
    if precision != "auto":
        return DTYPES[precision]
    if device.type == "cuda":
        return torch.float16
    return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else torch.float32


def uses_random_weights(size: str, weights, random_weights: bool) -> bool:
    """Random weights only when asked: `random_weights`, or the tiny size without weights."""
    return random_weights or (size == "tiny" and weights is None)


def _load_module(name: str, module: torch.nn.Module, path: Path) -> None:
    if name == "slowfast" and path.suffix == ".pkl":
        from extractors.slowfast_caffe2 import caffe2_state_dict, load_caffe2_blobs

        state = caffe2_state_dict(load_caffe2_blobs(path), module.state_dict())
    else:
        state = weight_files.load_state_dict(path)
    if name == "slowfast":  # the classification head is not used
        state = {k: v for k, v in state.items() if not k.startswith("blocks.6.")}
        missing, _ = module.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("blocks.6.") and "num_batches" not in k]
        if missing:
            raise ValueError(f"{path}: missing weights {missing[:5]}")
        return
    module.load_state_dict(state)


def _build_blip2(size: str, path: Path | None):
    from transformers import AutoTokenizer, Blip2ForImageTextRetrieval

    from extractors.blip2 import character_tokenizer, feature_config

    if path is not None:
        model = Blip2ForImageTextRetrieval.from_pretrained(path, local_files_only=True)
        return model, AutoTokenizer.from_pretrained(path, local_files_only=True)
    tokenizer = character_tokenizer()
    config = feature_config(size) if size == "full" else feature_config(size, len(tokenizer))
    return Blip2ForImageTextRetrieval(config), tokenizer


def build_encoder(
    name: str,
    size: str = "full",
    weights: str | Path | None = None,
    device: str = "auto",
    random_weights: bool = False,
    seed: int = 0,
    precision: str = "auto",
    verify_weights: bool = False,
) -> Encoder:
    """An encoder ready for inference. Real weights (`weights.choose`) are checked against
    their recorded checksum (sizes and times, or every byte with `verify_weights`). Raises
    WeightsNotFoundError when real weights are needed and missing, WeightsChecksumError when
    they changed."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; choose from {', '.join(ENCODERS)}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose from {', '.join(SIZES)}")
    torch_device = resolve_device(device)
    dtype = resolve_dtype(precision, torch_device)
    provenance = {"encoder": name, "size": size, "dtype": dtype_name(dtype)}
    if uses_random_weights(size, weights, random_weights):
        provenance.update(weights="random", seed=seed)
        path = None
    else:
        provenance.update(weight_files.identify(name, weights, verify_weights))
        path = Path(provenance["weights"])
    torch.manual_seed(seed)

    if name == "blip2":
        from extractors.blip2 import Blip2Encoder

        model, tokenizer = _build_blip2(size, path)
        return Blip2Encoder(model, tokenizer, torch_device, dtype, provenance)
    if name == "clip":
        from extractors.clip import ClipEncoder, build_clip_model

        model, encoder_class = build_clip_model(size), ClipEncoder
    else:
        from extractors.slowfast import SlowFastEncoder, build_slowfast_model

        model, encoder_class = build_slowfast_model(size), SlowFastEncoder
    if path is not None:
        _load_module(name, model, path)
    return encoder_class(model, torch_device, dtype, provenance)
