"""Typed training configurations and the presets of the reference's launch scripts.

    config = load_config("qvhighlights")           # a preset
    config = load_config("my_run.yaml")            # a preset plus overrides:  base: charades
                                                   #                           train: {epochs: 50}
Feature sizes are not configured: they are read from the first sample's files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import yaml

from model.losses import LossConfig
from model.matcher import MatchCosts
from model.network.dropout import SAMPLERS


@dataclass(frozen=True)
class DataConfig:
    """How annotations and features become tensors.

    labels: "qvhighlights" (3 annotators' 0-4 scores summed per clip, hard + easy pairs),
    "window" (binary labels inside the first window, 2 random pairs: Charades-STA, pretraining)
    or "tvsum" (20 annotators rescaled to 0-12)."""

    labels: str = "qvhighlights"
    clip_length: float = 2.0
    max_video_clips: int = 75
    max_query_tokens: int = 32
    max_windows: int = 5
    normalize_video: bool = True
    # Reference quirk: text features are normalised by the video flag; None keeps that.
    normalize_text: bool | None = None
    # Reference quirk: a synthetic set's per-clip saliency is ignored (window labels are used).
    use_synthetic_saliency: bool = False
    # Reference quirk: window labels take a clip to last duration / clips seconds, which moves
    # them when the features do not cover the video exactly; False uses clip_length.
    window_clips_from_duration: bool = True
    temporal_encoding: bool = True  # [t/L, (t+1)/L] appended to the video features
    skip_missing_features: bool = False

    def __post_init__(self):
        if self.labels not in ("qvhighlights", "window", "tvsum"):
            raise ValueError(f"labels must be qvhighlights, window or tvsum, got {self.labels!r}")


@dataclass(frozen=True)
class OptimConfig:
    epochs: int = 200
    batch_size: int = 32
    eval_batch_size: int = 100
    lr: float = 1e-4
    weight_decay: float = 1e-4
    lr_drop: int = 400
    grad_clip: float = 0.1
    eval_every: int = 5
    checkpoint_every: int = 50
    seed: int = 2018


@dataclass(frozen=True)
class ModelConfig:
    hidden_dim: int = 256
    heads: int = 8
    ffn_dim: int = 1024
    bicmf_layers: int = 1
    encoder_layers: int = 3
    decoder_layers: int = 3
    num_queries: int = 10
    input_dropout: float = 0.5
    dropout: float = 0.1
    projection_layers: int = 2
    contrastive_dim: int = 64
    informative_correlation: bool = False
    bicmf_ffn_residual: bool = False
    bicmf_sample_masks: bool = False
    # Dropout masks from NumPy's PCG64 (fast on a CPU) or from torch's generator ("torch"), which
    # runs that must follow the reference's random stream need.
    dropout_sampler: str = "numpy"

    def __post_init__(self):
        if self.dropout_sampler not in SAMPLERS:
            raise ValueError(
                f"model.dropout_sampler must be one of {SAMPLERS}, got {self.dropout_sampler!r}"
            )


@dataclass(frozen=True)
class TrainConfig:
    name: str
    evaluation: str = "qvhighlights"  # qvhighlights | moments | tvsum
    # Reference quirk: predictions with moments (its moment-retrieval and video inference)
    # carry saliency cast to float16, which ties near-equal clips (HIT@1 takes the first of
    # them); false writes float32 to 4 decimals. TVSum's saliency is float32 either way.
    float16_saliency: bool = True
    # The preset's feature folders; training replaces them with the folders it is given.
    video_features: tuple[str, ...] = ("slowfast_features", "clip_features")
    text_features: tuple[str, ...] = ("clip_text_features",)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, TrainConfig] = {}


def _preset(config: TrainConfig) -> TrainConfig:
    PRESETS[config.name] = config
    return config


QVHIGHLIGHTS = _preset(TrainConfig(name="qvhighlights"))
_preset(
    replace(
        QVHIGHLIGHTS,
        name="qvhighlights-b",
        video_features=("slowfast_features", "clip_features", "blip_video_features"),
        text_features=("clip_text_features", "blip_text_features"),
    )
)
_preset(
    replace(
        QVHIGHLIGHTS,
        name="charades",
        evaluation="moments",
        data=DataConfig(labels="window", clip_length=1.0),
        optim=OptimConfig(epochs=100, lr_drop=100, eval_batch_size=4),
        loss=LossConfig(contrastive=0.3),
    )
)
_preset(
    replace(
        QVHIGHLIGHTS,
        name="tvsum",
        evaluation="tvsum",
        data=DataConfig(labels="tvsum", max_video_clips=1000),
        optim=OptimConfig(epochs=2000, batch_size=4, lr=1e-3, lr_drop=2000),
        loss=LossConfig(use_matcher=False, contrastive=0.8, hard_pos_neg=1.0),
    )
)
_preset(
    replace(
        QVHIGHLIGHTS,
        name="pretrain",
        data=DataConfig(labels="window"),
        optim=OptimConfig(epochs=50, batch_size=256),
        loss=LossConfig(contrastive=0.01),
    )
)


def _merge(instance, overrides: dict):
    """A copy of a (nested) dataclass with the overrides applied; unknown keys are errors."""
    known = {f.name: f for f in fields(instance)}
    changes = {}
    for key, value in overrides.items():
        if key not in known:
            raise ValueError(f"unknown setting {key!r} in {type(instance).__name__}")
        current = getattr(instance, key)
        if hasattr(current, "__dataclass_fields__"):
            if not isinstance(value, dict):
                raise ValueError(f"{key!r} in {type(instance).__name__} must be a mapping")
            value = _merge(current, value)
        elif isinstance(current, tuple):
            value = tuple(value)
        elif key == "costs" and isinstance(value, dict):
            value = MatchCosts(**value)
        changes[key] = value
    return replace(instance, **changes)


def load_config(name_or_file: str | Path) -> TrainConfig:
    """A preset by name, or a YAML file naming its `base` preset and overriding any field."""
    if str(name_or_file) in PRESETS:
        return PRESETS[str(name_or_file)]
    path = Path(name_or_file)
    if not path.is_file():
        raise ValueError(
            f"{name_or_file!r} is neither a preset ({', '.join(PRESETS)}) nor a YAML file"
        )
    try:
        overrides = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(error, "problem", None) or error
        raise ValueError(f"{path}: not valid YAML{where} ({reason})") from None
    if not isinstance(overrides, dict):
        raise ValueError(f"{path}: expected a mapping of settings, got {overrides!r}")
    base = PRESETS.get(overrides.pop("base", "qvhighlights"))
    if base is None:
        raise ValueError(f"{path}: unknown base preset; choose from {', '.join(PRESETS)}")
    return _merge(base, {"name": path.stem} | overrides)


def config_from_dict(values: dict) -> TrainConfig:
    """Rebuild a config saved in a checkpoint."""
    values = dict(values)
    name = values.pop("name")
    return _merge(replace(QVHIGHLIGHTS, name=name), values)
