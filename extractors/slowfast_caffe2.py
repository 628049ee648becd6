"""Load Caffe2-layout SlowFast checkpoints (e.g. SLOWFAST_8x8_R50.pkl) into pytorchvideo.

The pickle holds ``{"blobs": {name: ndarray}}``. Blob names follow the Caffe2 video ResNet scheme:
an optional ``t_`` prefix marks the fast pathway; ``conv1`` / ``res_conv1_bn`` is the stem;
``res{S}_{B}_branch1`` and ``res{S}_{B}_branch2{a,b,c}`` are block B of stage S (2..5);
``t_pool1_subsample`` and ``t_res{S}_{B}_branch2c_bn_subsample`` are the fast-to-slow lateral
connections after the stem and after stage S; ``pred`` is the classifier. Suffixes: ``_w``/``_b``
are weight/bias, ``_bn_s``/``_bn_b``/``_bn_rm``/``_bn_riv`` are BN scale, shift, running mean
and running variance. Other blobs (``*_momentum``, ``lr``, ``model_iter``) are optimizer state.
"""

from __future__ import annotations

import codecs
import pickle
import re
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
    from numpy._core import numeric as _numeric
except ImportError:  # numpy 1.x
    from numpy.core import multiarray as _multiarray
    from numpy.core import numeric as _numeric

# Blocks per stage (res2..res5) of ResNet-50; only the inverse mapping needs it, to name the
# lateral connection after the last block of a stage.
STAGE_DEPTHS = (3, 4, 6, 3)

_SUFFIX_TO_ATTR = {
    "w": "weight",
    "b": "bias",
    "bn_s": "weight",
    "bn_b": "bias",
    "bn_rm": "running_mean",
    "bn_riv": "running_var",
}
_CONV_SUFFIX = {"weight": "w", "bias": "b"}
_NORM_SUFFIX = {"weight": "bn_s", "bias": "bn_b", "running_mean": "bn_rm", "running_var": "bn_riv"}

_FUSION = "blocks.{stage}.multipathway_fusion"
_PATHWAY = "blocks.{stage}.multipathway_blocks.{pathway}"
_BLOCK = _PATHWAY + ".res_blocks.{block}"

# (Caffe2 layer pattern, pytorchvideo module for conv/linear params, module for BN params).
_RULES = [
    (r"t_pool1_subsample", _FUSION + ".conv_fast_to_slow", _FUSION + ".norm"),
    (
        r"t_res(?P<stage>[2-4])_\d+_branch2c_bn_subsample",
        _FUSION + ".conv_fast_to_slow",
        _FUSION + ".norm",
    ),
    (r"(?P<fast>t_)?(?:res_)?conv1", _PATHWAY + ".conv", _PATHWAY + ".norm"),
    (
        r"(?P<fast>t_)?res(?P<stage>[2-5])_(?P<block>\d+)_branch1",
        _BLOCK + ".branch1_conv",
        _BLOCK + ".branch1_norm",
    ),
    (
        r"(?P<fast>t_)?res(?P<stage>[2-5])_(?P<block>\d+)_branch2(?P<x>[abc])",
        _BLOCK + ".branch2.conv_{x}",
        _BLOCK + ".branch2.norm_{x}",
    ),
    (r"pred", "blocks.6.proj", None),
]
_SUFFIX_RE = r"_(?P<suffix>w|b|bn_s|bn_b|bn_rm|bn_riv)"
_COMPILED = [(re.compile(pat + _SUFFIX_RE), conv, norm) for pat, conv, norm in _RULES]


def caffe2_to_pytorchvideo(name: str) -> str | None:
    """Return the ``slowfast_r50`` state-dict key for a Caffe2 blob, or None to skip it.

    Caffe2 stage S becomes ``blocks.{S-1}`` (the stem is ``blocks.0``), the ``t_`` prefix selects
    pathway 1 (fast), and the classifier ``pred`` becomes ``blocks.6.proj``.
    """
    for regex, conv, norm in _COMPILED:
        match = regex.fullmatch(name)
        if match is None:
            continue
        groups = match.groupdict()
        suffix = groups.pop("suffix")
        module = norm if suffix.startswith("bn_") else conv
        if module is None:
            return None
        fields = {
            "stage": int(groups["stage"]) - 1 if groups.get("stage") else 0,
            "pathway": 1 if groups.get("fast") else 0,
            "block": groups.get("block"),
            "x": groups.get("x"),
        }
        return f"{module.format(**fields)}.{_SUFFIX_TO_ATTR[suffix]}"
    return None


_PV_STEM = re.compile(r"blocks\.0\.multipathway_blocks\.(?P<p>[01])\.(?P<m>conv|norm)")
_PV_BLOCK = re.compile(
    r"blocks\.(?P<s>[1-4])\.multipathway_blocks\.(?P<p>[01])\.res_blocks\.(?P<b>\d+)\."
    r"(?P<m>branch1_conv|branch1_norm|branch2\.conv_[abc]|branch2\.norm_[abc])"
)
_PV_FUSION = re.compile(r"blocks\.(?P<s>[0-3])\.multipathway_fusion\.(?P<m>conv_fast_to_slow|norm)")


def _caffe2_layer(module: str) -> tuple[str, bool]:
    """Return (Caffe2 layer name, is_norm) for a pytorchvideo module path."""
    if module == "blocks.6.proj":
        return "pred", False
    if match := _PV_STEM.fullmatch(module):
        fast = match["p"] == "1"
        is_norm = match["m"] == "norm"
        return ("t_" if fast else "") + ("res_conv1" if is_norm else "conv1"), is_norm
    if match := _PV_BLOCK.fullmatch(module):
        prefix = "t_" if match["p"] == "1" else ""
        branch = "branch1" if match["m"].startswith("branch1") else "branch2" + match["m"][-1]
        layer = f"{prefix}res{int(match['s']) + 1}_{match['b']}_{branch}"
        return layer, "norm" in match["m"]
    if match := _PV_FUSION.fullmatch(module):
        stage = int(match["s"])
        layer = "t_pool1_subsample"
        if stage > 0:
            last_block = STAGE_DEPTHS[stage - 1] - 1
            layer = f"t_res{stage + 1}_{last_block}_branch2c_bn_subsample"
        return layer, match["m"] == "norm"
    raise ValueError(f"no Caffe2 name for pytorchvideo module {module!r}")


def pytorchvideo_to_caffe2(key: str) -> str:
    """Inverse of :func:`caffe2_to_pytorchvideo`; raises ValueError for unmapped keys.

    Lateral connections are named after the last block of their stage using STAGE_DEPTHS.
    """
    module, _, attr = key.rpartition(".")
    layer, is_norm = _caffe2_layer(module)
    suffix = (_NORM_SUFFIX if is_norm else _CONV_SUFFIX).get(attr)
    if suffix is None:
        raise ValueError(f"no Caffe2 name for pytorchvideo key {key!r}")
    return f"{layer}_{suffix}"


# Everything a pickled dict of numpy arrays can reference, from Python 2 or 3, numpy 1 or 2.
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy._core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy.core.numeric", "_frombuffer"): _numeric._frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _numeric._frombuffer,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,  # bytes in Python 3 protocol <= 2
    ("collections", "OrderedDict"): OrderedDict,
}


class _BlobUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def load_caffe2_blobs(path: str | Path) -> dict[str, np.ndarray]:
    """Read a Caffe2 pickle (``{"blobs": {...}}`` or a bare dict of arrays) without running code."""
    with open(path, "rb") as f:
        data = _BlobUnpickler(f, encoding="latin1").load()
    if isinstance(data, Mapping) and "blobs" in data:
        data = data["blobs"]
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a dict of blobs, got {type(data).__name__}")
    return {str(name): value for name, value in data.items() if isinstance(value, np.ndarray)}


def _squeezed(shape) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def caffe2_state_dict(
    blobs: Mapping[str, np.ndarray], reference_state_dict: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Convert Caffe2 blobs to a state dict shaped like ``reference_state_dict``.

    Blobs that map to no reference key (optimizer state, a head the reference lacks) are dropped.
    A blob whose shape differs from the reference only by size-1 axes (a 2D conv weight for a
    3D conv with temporal size 1, an FC weight for a 1x1x1 conv) is reshaped; any other shape
    difference, or a reference key (other than ``num_batches_tracked``) left unfilled, raises
    ValueError.
    """
    state = {}
    for name, array in blobs.items():
        key = caffe2_to_pytorchvideo(name)
        if key is None or key not in reference_state_dict:
            continue
        ref = reference_state_dict[key]
        if tuple(array.shape) != tuple(ref.shape):
            if _squeezed(array.shape) != _squeezed(ref.shape):
                raise ValueError(
                    f"blob {name!r} has shape {tuple(array.shape)} but {key!r} "
                    f"expects {tuple(ref.shape)}"
                )
            array = array.reshape(tuple(ref.shape))
        state[key] = torch.tensor(array, dtype=ref.dtype)
    missing = sorted(
        k for k in reference_state_dict if k not in state and not k.endswith("num_batches_tracked")
    )
    if missing:
        raise ValueError(f"Caffe2 blobs provide no value for {len(missing)} keys: {missing}")
    return state
