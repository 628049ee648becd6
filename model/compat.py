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

from model.checkpoints import (
    CheckpointFileError,
    TrainedInputs,
    build_model,
    read_torch_file,
    save_checkpoint,
)
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


# The reference scripts' feature folders -> our feature type and its width (the widths the
# scripts add up into v_feat_dim and t_feat_dim).
REFERENCE_FOLDERS = {
    "slowfast_features": ("slowfast_features", 2304),
    "clip_features": ("clip_features", 512),
    "blip_video_features": ("blip_video_features", 768),
    "clip_text_features": ("clip_text_features", 512),
    "clip_aug_text_features_openai": ("clip_text_features", 512),
    "blip_text_features": ("blip_text_features", 768),
    "blip_aug_text_features_openai": ("blip_text_features", 768),
}


def feature_types(opt: argparse.Namespace, temporal_encoding: bool):
    """(video, text) lists of (folder, width) the reference model was trained on, from its
    options' feature folders; None when they are missing, unknown, or do not add up to its
    input widths."""
    folders = getattr(opt, "v_feat_dirs", None), getattr(opt, "t_feat_dirs", None)
    if not all(folders):
        return None
    names = [[Path(folder).name for folder in group] for group in folders]
    if not all(name in REFERENCE_FOLDERS for group in names for name in group):
        return None
    video, text = ([REFERENCE_FOLDERS[name] for name in group] for group in names)
    video_width = sum(width for _, width in video) + 2 * temporal_encoding
    if video_width != opt.v_feat_dim or sum(width for _, width in text) != opt.t_feat_dim:
        return None
    return video, text


def import_checkpoint(source: Path, target: Path) -> Path:
    """Write one of our checkpoints from a reference checkpoint; returns `target`. What the
    model was trained on is recorded when its options name known feature folders."""
    checkpoint = read_torch_file(source, safe_globals=[argparse.Namespace])
    if "model" not in checkpoint or "opt" not in checkpoint:
        raise ValueError(f"{source}: not a reference checkpoint (no 'model' and 'opt')")
    opt = checkpoint["opt"]
    data = DataConfig(
        clip_length=float(getattr(opt, "clip_length", 2.0)),
        temporal_encoding="tef" in getattr(opt, "ctx_mode", "video_tef"),
    )
    config = replace(
        QVHIGHLIGHTS,
        name=f"imported:{Path(source).name}",
        model=model_config_from_opt(opt),
        data=data,
    )
    types = feature_types(opt, data.temporal_encoding)
    record = {}
    if types is not None:
        video, text = types
        config = replace(
            config,
            video_features=tuple(folder for folder, _ in video),
            text_features=tuple(folder for folder, _ in text),
        )
        widths = [width for _, width in video], [width for _, width in text]
        trained_on = TrainedInputs.of_training(config, *widths)
        record = {"trained_on": trained_on.to_dict()}
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
        }
        | record,
    )
