"""A work folder to browse (the bundled video, a hand-written synthetic set and predictions
whose per-query figures are known by construction), and the viewer served on a free port."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from synth.schema import ShardWriter
from tests.conftest import DATA_DIR

VID = "big_buck_bunny_0_30"
DURATION = 30.0
CLIPS = 15
CAPTIONS = [
    "a pink sky over a green meadow with trees",
    "a small stream between grass and flowers",
    "a grassy mound with a burrow under a tree",
]
ROOT = Path(__file__).resolve().parents[2]
GT = DATA_DIR / "annotations" / f"{VID}.jsonl"
# Top predicted window of each query and its IoU with the query's GT window (tests/data/
# annotations): 1 [2, 12], 2 [12, 16], 3 [16, 22], 4 [24, 30].
TOP_WINDOWS = {1: ([2, 12], 1.0), 2: ([0, 4], 0.0), 3: ([16, 20], 4 / 6), 4: ([20, 30], 0.6)}
WORST_FIRST = [2, 4, 3, 1]
WINDOW_COUNTS = {1: 3, 2: 7, 3: 1, 4: 5}  # windows listed per query; at most 5 are drawn


def synth_row(index: int, caption: str) -> dict:
    start = 10.0 * index
    clips = list(range(5 * index, 5 * index + 5))
    similarities = [0.1 + 0.05 * ((clip * 7 + index) % 5) for clip in range(CLIPS)]
    return {
        "qid": f"{VID}_{start:g}_{start + 10:g}",
        "query": caption,
        "vid": VID,
        "duration": DURATION,
        "relevant_windows": [[start, start + 10]],
        "relevant_clip_ids": clips,
        "saliency_scores": [[similarities[clip]] for clip in clips],
        "interval_index": index,
        "interval_start": start,
        "interval_end": start + 10,
        "frame_time": start + 5,
        "clip_similarities": similarities,
        "labels": "interval",
        "captioner": "test",
        "similarity_model": "test",
        "decoding": {"num_beams": 3, "min_new_tokens": 10, "max_new_tokens": 30},
        "config_hash": "test",
    }


def prediction(qid: int) -> dict:
    top, _ = TOP_WINDOWS[qid]
    others = [[2.0 * k, 2.0 * k + 4, 0.5 - 0.05 * k] for k in range(WINDOW_COUNTS[qid] - 1)]
    saliency = [round(0.1 * ((clip + qid) % 6), 2) for clip in range(CLIPS)]
    return {
        "qid": qid,
        "pred_relevant_windows": [[*map(float, top), 0.9], *others],
        "pred_saliency_scores": saliency,
    }


def make_work(folder: Path) -> Path:
    """{folder}/videos (the bundled video), synth/, evaluate/submission.jsonl, lineage.json."""
    videos = folder / "videos"
    videos.mkdir(parents=True)
    shutil.copy(DATA_DIR / "videos" / f"{VID}.webm", videos)
    writer = ShardWriter(folder / "synth", "test")
    writer.write([synth_row(i, caption) for i, caption in enumerate(CAPTIONS)], [VID])
    submission = folder / "evaluate" / "submission.jsonl"
    submission.parent.mkdir()
    submission.write_text("".join(json.dumps(prediction(q)) + "\n" for q in TOP_WINDOWS))
    lineage = {
        "parameters": {"videos": str(videos)},
        "steps": [
            {"step": "synth", "inputs": {}, "result": {"out": str(folder / "synth")}},
            {
                "step": "evaluate",
                "inputs": {"gt": str(GT)},
                "result": {
                    "submission": str(submission),
                    "metrics_file": str(folder / "evaluate" / "metrics.json"),
                },
            },
        ],
    }
    (folder / "lineage.json").write_text(json.dumps(lineage))
    return folder


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    return make_work(tmp_path_factory.mktemp("browse") / "work")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment() -> dict:
    return os.environ | {"PYTHONPATH": str(ROOT)}


def stop_with_parent() -> None:
    """In the child: on Linux, be sent SIGTERM when the test process dies (a killed or timed-out
    run skips fixture teardown and would leave the server running)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG


class Served:
    """`videolights browse ARGS` on a free port, in a process of its own."""

    def __init__(self, *args: str, host: str = "127.0.0.1"):
        self.port = free_port()
        command = [sys.executable, "-m", "flows.cli", "browse", *args, "--port", str(self.port)]
        if host != "127.0.0.1":
            command += ["--host", host]
        self.process = subprocess.Popen(
            command,
            env=environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=stop_with_parent,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"browse exited: {self.process.stderr.read()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise TimeoutError("browse did not start listening in 60 s") from None
                time.sleep(0.2)

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> str:
        """Stop the server; its stderr."""
        self.process.terminate()
        _, err = self.process.communicate(timeout=20)
        return err


@pytest.fixture(scope="session")
def server(work):
    with Served(str(work)) as served:
        yield served
