"""The `pretrain-then-finetune` flow: from raw videos to an evaluated VideoLights in one run.

    extract (video features, text features of the annotated queries)
      -> synth (synthetic set) -> caption text features
      -> pretrain (on the synthetic set) -> finetune (from the pretrained checkpoint)
      -> evaluate (the finetuned checkpoint's predictions on the validation queries)

Each stage is the stage's own flow, run as a subflow, so each shows in the UI with its
parameters, artifacts and result; each passes paths to the next (the pretrained checkpoint is the
finetune run's `init_from`, the finetuned one is what evaluate predicts with). The same lineage
is written to `{out}/lineage.json` after every step, with the failing step and its error if one
fails, and shown as a markdown artifact at the end.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run
from pydantic import BaseModel

from extractors.run import extract_text, read_queries
from flows.evaluate import EvaluateRun, evaluate
from flows.extract import ExtractRun, encoders_for, extract, extract_settings
from flows.params import (
    WORK,
    Device,
    ExistingPath,
    ModelSize,
    OutPath,
    PositiveInt,
    VideoEncoderName,
)
from flows.retries import RETRY_OPTIONS
from flows.synthesize import LabelStrategy, SynthRun, synth
from flows.train import TrainRun, finetune, pretrain
from pipeline.store import atomic_write_json


class PipelineRun(BaseModel):
    """Every step's result, in order, and where the lineage record is."""

    lineage: Path
    extract: ExtractRun
    synth: SynthRun
    caption_text_files: int
    pretrain: TrainRun
    finetune: TrainRun
    evaluate: EvaluateRun


class Lineage:
    """The record of one run: its parameters, then each step's inputs and result as it
    finishes (so the checkpoint a step started from is next to the step that made it)."""

    def __init__(self, path: Path, parameters: dict):
        self.path = path
        self.record = {"parameters": parameters, "steps": []}
        self.write()

    def write(self) -> None:
        atomic_write_json(self.path, json.loads(json.dumps(self.record, default=str)))

    def step(self, name: str, call, **inputs):
        """Run one step; record its inputs and result, or the error that stopped the run."""
        entry = {"step": name, "inputs": inputs}
        try:
            result = call(**inputs)
        except Exception as error:
            self.record["failed"] = entry | {"error": f"{type(error).__name__}: {error}"}
            self.write()
            raise
        value = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
        self.record["steps"].append(entry | {"result": value})
        self.write()
        return result

    def markdown(self) -> str:
        lines = ["# pretrain-then-finetune", "", f"Lineage record: `{self.path}`", ""]
        for step in self.record["steps"]:
            name, result = step["step"], step["result"]
            if isinstance(result, dict):  # its paths are its only strings
                paths = {k: v for k, v in result.items() if isinstance(v, str)}
                result = ", ".join(f"{k} `{v}`" for k, v in paths.items())
            lines.append(f"- **{name}**: {result}")
        return "\n".join(lines) + "\n"


@task(cache_policy=NO_CACHE, **RETRY_OPTIONS)
def caption_text_features(captions: Path, out: Path, settings) -> int:
    """Token features of the synthetic captions, made with the video features' encoders."""
    return extract_text(read_queries(captions), out, encoders_for(settings), str(flow_run.id))


@flow(name="pretrain-then-finetune", persist_result=True, result_serializer="json")
def pretrain_then_finetune(
    videos: ExistingPath,
    finetune_annotations: ExistingPath,
    val_annotations: ExistingPath,
    out: OutPath = WORK / "pretrain-then-finetune",
    encoders: tuple[VideoEncoderName, ...] = ("slowfast", "clip", "blip2"),
    model_size: ModelSize = "full",
    device: Device = "auto",
    weights: ExistingPath | None = None,
    labels: LabelStrategy = "interval",
    pretrain_config: str = "pretrain",
    finetune_config: str = "qvhighlights",
    pretrain_epochs: PositiveInt | None = None,
    finetune_epochs: PositiveInt | None = None,
    batch_size: PositiveInt | None = None,
    seed: int = 0,
) -> PipelineRun:
    """Features, synthetic set, pretraining, finetuning and evaluation of `videos`, with
    `finetune_annotations` and `val_annotations` (QVHighlights JSONL) for the last two.
    `encoders` lists the video features in the model's concatenation order."""
    settings = extract_settings(encoders, model_size, device, weights, seed=seed)
    lineage = Lineage(out / "lineage.json", flow_run.parameters)
    features = lineage.step(
        "extract",
        extract,
        videos=videos,
        out=out / "features",
        encoders=encoders,
        queries=[finetune_annotations, val_annotations],
        model_size=model_size,
        device=device,
        weights=weights,
        seed=seed,
    )
    synthetic = lineage.step(
        "synth",
        synth,
        videos=videos,
        out=out / "synth",
        model_size=model_size,
        device=device,
        weights=weights,
        labels=labels,
        jsonl=out / "synth.jsonl",
        seed=seed,
    )
    caption_files = lineage.step(
        "caption-text-features",
        caption_text_features,
        captions=synthetic.jsonl,
        out=features.out,
        settings=settings,
    )
    dirs = {
        "video_feature_dirs": features.video_feature_dirs,
        "text_feature_dirs": features.text_feature_dirs,
    }
    training = {"batch_size": batch_size, "seed": seed, "device": device, **dirs}
    pretrained = lineage.step(
        "pretrain",
        pretrain,
        train_annotations=synthetic.out,
        out=out / "pretrain",
        config=pretrain_config,
        epochs=pretrain_epochs,
        **training,
    )
    finetuned = lineage.step(
        "finetune",
        finetune,
        train_annotations=finetune_annotations,
        val_annotations=val_annotations,
        init_from=pretrained.best_checkpoint,
        out=out / "finetune",
        config=finetune_config,
        epochs=finetune_epochs,
        **training,
    )
    evaluation = lineage.step(
        "evaluate",
        evaluate,
        gt=val_annotations,
        checkpoint=finetuned.best_checkpoint,
        out=out / "evaluate",
        device=device,
        **dirs,
    )
    create_markdown_artifact(lineage.markdown(), key="pretrain-then-finetune-lineage")
    return PipelineRun(
        lineage=lineage.path,
        extract=features,
        synth=synthetic,
        caption_text_files=caption_files,
        pretrain=pretrained,
        finetune=finetuned,
        evaluate=evaluation,
    )
