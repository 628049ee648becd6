"""Import a checkpoint saved by the reference implementation (dpaul06/VideoLights).

Its `model` state dict is renamed to ours (the reference keeps the transformer under
`transformer.`, wraps 1x1 convolutions that we express as Linear layers, and carries modules it
never uses, which are dropped); its `opt` namespace gives the architecture. The file is read
with `torch.load(weights_only=True)` and an allow-list holding only `argparse.Namespace`.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import replace
from pathlib import Path

import torch

from model.checkpoints import CheckpointFileError, build_model, read_torch_file, save_checkpoint
from model.config import QVHIGHLIGHTS, DataConfig, ModelConfig

# Reference prefix -> ours; applied in order, first match wins.
_RENAMES = [
    (r"^transformer\.t2v_encoder\.layers\.(\d+)\.cross_attn_1\.", r"bicmf.\1.text_to_video."),
    (r"^transformer\.t2v_encoder\.layers\.(\d+)\.cross_attn_2\.", r"bicmf.\1.video_to_text."),
    (
        r"^transformer\.t2v_encoder\.layers\.(\d+)\.cross_attn_3\.",
        r"bicmf.\1.refined_text_to_video.",
    ),
    (r"^transformer\.t2v_encoder\.layers\.", "bicmf."),
    (r"^transformer\.encoder\.layers\.", "encoder."),
    (r"^transformer\.decoder\.", "decoder."),
    (r"^input_(vid|txt)_proj\.(\d+)\.LayerNorm\.", r"input_\1_proj.\2.norm."),
    (r"^input_(vid|txt)_proj\.(\d+)\.net\.1\.conv1d\.", r"input_\1_proj.\2.linear."),
    (r"^feature_refinement\.word_to_sentence_pool\.", "feature_refinement.pool."),
    (r"^feature_refinement\.mixer\.conv1d\.", "feature_refinement.mixer."),
    (r"^gru_extractor\.gru\.", "gru."),
]
_UNUSED = re.compile(
    r"^txt_position_embed\.|^transformer\.t2v_encoder\.layers\.\d+\.norm2\."
    r"|^contrastive_align_projection_vid\."
)


def rename(key: str) -> str | None:
    """Our name for a reference state-dict key, or None for a module we do not build."""
    if _UNUSED.search(key):
        return None
    for pattern, replacement in _RENAMES:
        if re.match(pattern, key):
            return re.sub(pattern, replacement, key)
    return key


def convert_state_dict(reference: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    converted = {}
    for key, tensor in reference.items():
        name = rename(key)
        if name is None:
            continue
        if tensor.dim() == 3 and tensor.shape[-1] == 1:  # a 1x1 Conv1d weight -> Linear
            tensor = tensor.squeeze(-1)
        converted[name] = tensor
    return converted


def model_config_from_opt(opt: argparse.Namespace) -> ModelConfig:
    return ModelConfig(
        hidden_dim=opt.hidden_dim,
        heads=opt.nheads,
        ffn_dim=opt.dim_feedforward,
        bicmf_layers=opt.bicmf_layers,
        encoder_layers=opt.enc_layers,
        decoder_layers=opt.dec_layers,
        num_queries=opt.num_queries,
        input_dropout=opt.input_dropout,
        dropout=opt.dropout,
        contrastive_dim=opt.contrastive_hdim,
        projection_layers=opt.n_input_proj,
    )


def import_checkpoint(source: Path, target: Path) -> Path:
    """Write one of our checkpoints from a reference checkpoint; returns `target`."""
    checkpoint = read_torch_file(source, safe_globals=[argparse.Namespace])
    if "model" not in checkpoint or "opt" not in checkpoint:
        raise ValueError(f"{source}: not a reference checkpoint (no 'model' and 'opt')")
    opt = checkpoint["opt"]
    config = replace(
        QVHIGHLIGHTS,
        name=f"imported:{Path(source).name}",
        model=model_config_from_opt(opt),
        data=DataConfig(clip_length=float(getattr(opt, "clip_length", 2.0))),
    )
    model = build_model(config, opt.v_feat_dim, opt.t_feat_dim)
    try:
        model.load_state_dict(convert_state_dict(checkpoint["model"]))
    except RuntimeError as error:  # missing, unexpected or differently sized weights
        raise CheckpointFileError(
            f"{source}: weights that do not fit its options: {error}"
        ) from None
    return save_checkpoint(
        Path(target),
        {
            "config": config.to_dict(),
            "video_dim": opt.v_feat_dim,
            "text_dim": opt.t_feat_dim,
            "model": model.state_dict(),
            "imported_from": str(source),
        },
    )
