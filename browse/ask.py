"""New queries with a checkpoint: pick a video, type a query, get moments and saliency.

A video's features are extracted once, with the encoders the checkpoint was trained on, into
the feature cache (the viewer's only writes), in the released layout under a folder named by
the checkpoint and the encoder settings; every later query on that video reads them. Each
answer (`predict_video`'s JSONL and plot) is kept there too, under `answers/`. Jobs run
one at a time on a worker thread; the page polls a job for its progress (clips decoded).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from browse.predictions import TOP_MOMENTS, Query
from pipeline.store import video_feature_path, write_video_features


@dataclass(frozen=True)
class AskSettings:
    """How the encoders of a new video are built (as `videolights predict` takes them)."""

    model_size: str = "full"
    weights: Path | None = None
    device: str = "auto"


@dataclass
class Job:
    id: str
    vid: str
    query: str
    state: str = "queued"  # queued, extracting, predicting, done, failed
    clips_done: int = 0
    clips: int = 0
    error: str = ""
    result: Query | None = None

    def status(self) -> dict:
        return {
            "state": self.state,
            "clips_done": self.clips_done,
            "clips": self.clips,
            "error": self.error,
            "url": f"/ask/{self.id}" if self.state == "done" else None,
        }


class Asker:
    def __init__(self, checkpoint: Path, cache: Path, media, settings: AskSettings):
        self.checkpoint = checkpoint.resolve()
        self.media = media
        self.settings = settings
        stat = self.checkpoint.stat()
        identity = f"{self.checkpoint}|{stat.st_size}|{stat.st_mtime_ns}|{settings.model_size}"
        identity += f"|{settings.weights}"
        self.cache = cache / hashlib.sha256(identity.encode()).hexdigest()[:16]
        self.jobs: dict[str, Job] = {}
        self.ids = itertools.count(1)
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ask")

    def videos(self) -> list[str]:
        return sorted(self.media.videos)

    def submit(self, vid: str, query: str) -> Job:
        if self.media.path(vid) is None:
            raise ValueError(f"no video {vid!r} in the --videos folders")
        if not query.strip():
            raise ValueError("type a query")
        job = Job(str(next(self.ids)), vid, query.strip())
        self.jobs[job.id] = job
        self.worker.submit(self.run, job)
        return job

    def run(self, job: Job) -> None:
        from model.checkpoints import load_trained
        from model.predict import VIDEO_ENCODERS, VideoQuerySettings, predict_video
        from pipeline.probe import probe

        try:
            path = self.media.path(job.vid)
            settings = VideoQuerySettings(
                checkpoint=self.checkpoint,
                video=path,
                queries=(job.query,),
                out=self.cache / "answers" / job.id,
                model_size=self.settings.model_size,
                weights=self.settings.weights,
                device=self.settings.device,
            )
            _, _, inputs, _ = load_trained(self.checkpoint, "cpu")
            names = [feature.folder for feature in inputs.video]
            cached = all(
                video_feature_path(self.cache, VIDEO_ENCODERS[name], job.vid).is_file()
                for name in names
            )
            if not cached:
                from model.predict import video_features

                job.state = "extracting"
                job.clips = probe(path).num_clips(inputs.clip_length)

                def advance() -> None:
                    job.clips_done += 1

                arrays, _ = video_features(settings, inputs, on_clip=advance)
                for name, array in zip(names, arrays, strict=True):
                    write_video_features(self.cache, VIDEO_ENCODERS[name], job.vid, array)
            job.state = "predicting"
            (prediction,) = predict_video(replace(settings, features=self.cache))
            job.result = Query(
                qid=job.id,
                query=job.query,
                vid=job.vid,
                duration=probe(path).duration,
                gt_windows=[],
                moments=prediction["pred_relevant_windows"][:TOP_MOMENTS],
                predicted_saliency=prediction["pred_saliency_scores"],
                annotated_saliency=[],
                r1_iou=math.nan,
                hit1=None,
            )
            job.state = "done"
        except Exception as error:  # shown on the page; the viewer goes on
            job.error = f"{type(error).__name__}: {error}"
            job.state = "failed"


def ask_routes(viewer, render, query_context) -> list[Route]:
    asker: Asker = viewer.asker

    async def page(request: Request):
        return render(request, "ask.html", videos=asker.videos())

    async def submit(request: Request):
        try:
            form = await request.json()
            job = asker.submit(str(form.get("vid", "")), str(form.get("query", "")))
        except (ValueError, AttributeError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse({"id": job.id, **job.status()})

    async def status(request: Request):
        job = asker.jobs.get(request.path_params["id"])
        if job is None:
            return JSONResponse({"error": "no such job"}, status_code=404)
        return JSONResponse(job.status())

    async def answer(request: Request):
        job = asker.jobs.get(request.path_params["id"])
        if job is None or job.result is None:
            raise HTTPException(404, "no answer yet for this job")
        return render(request, "query.html", **query_context(viewer, job.result, with_truth=False))

    return [
        Route("/ask", page),
        Route("/ask/jobs", submit, methods=["POST"]),
        Route("/ask/jobs/{id}", status),
        Route("/ask/{id}", answer),
    ]
