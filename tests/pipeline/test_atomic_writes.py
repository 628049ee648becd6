"""Every writer of outputs leaves the old file or no file, never a partial one, when its
serialiser fails part-way or the process is killed mid-write or before the rename.

The serialisers (np.savez, torch.save, Path.write_text) are replaced by ones that write the
first half of the real bytes to wherever they were told to, then fail: a writer that wrote to
the final path directly would leave that half there."""

import json
import os
import pathlib
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch

from model.checkpoints import read_torch_file, save_checkpoint
from pipeline.store import (
    atomic_write_json,
    load_features,
    text_feature_path,
    video_feature_path,
    write_text_features,
    write_video_features,
)
from tests.pipeline.partial_writes import (
    SerialiserFailed,
    fail,
    half_savez,
    half_torch_save,
    half_write_text,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]


def video(root, value):
    write_video_features(root, "clip", "v", np.full((3, 4), value))
    return load_features(video_feature_path(root, "clip", "v"), "features")[0, 0]


def text(root, value):
    write_text_features(root, "clip", 7, np.full((2, 4), value), np.full(4, value))
    return load_features(text_feature_path(root, "clip", 7), "last_hidden_state")[0, 0]


def record(root, value):
    path = atomic_write_json(root / "run.json", {"value": value})
    return json.loads(path.read_text())["value"]


def checkpoint(root, value):
    path = save_checkpoint(root / "model.ckpt", {"weight": torch.full((64,), float(value))})
    return float(read_torch_file(path)["weight"][0])


WRITERS = {
    "video features": (video, np, "savez", half_savez),
    "text features": (text, np, "savez", half_savez),
    "json record": (record, pathlib.Path, "write_text", half_write_text),
    "checkpoint": (checkpoint, torch, "save", half_torch_save),
}


@pytest.mark.parametrize("existing", [True, False], ids=["over an old file", "new file"])
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_serialiser_failing_mid_write_leaves_the_old_file_or_none(
    writer, existing, tmp_path, monkeypatch
):
    write, owner, name, half = WRITERS[writer]
    if existing:
        assert write(tmp_path, 1) == 1
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    monkeypatch.setattr(owner, name, half(fail))
    with pytest.raises(SerialiserFailed):
        write(tmp_path, 2)
    monkeypatch.undo()
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # the old file unchanged, or still none; no temporary left


KILLED_WRITE = """
import os, sys
import numpy as np
from pipeline.store import write_video_features
from tests.pipeline.partial_writes import half_savez, kill
if sys.argv[2] == "mid-write":
    np.savez = half_savez(kill)
else:  # the whole file written, killed before it is renamed into place
    os.replace = lambda *args: kill()
write_video_features(sys.argv[1], "clip", "v", np.full((3, 4), 2))
"""


@pytest.mark.parametrize("moment", ["mid-write", "before the rename"])
def test_a_process_killed_while_writing_leaves_the_old_file(moment, tmp_path):
    assert video(tmp_path, 1) == 1
    command = [sys.executable, "-c", KILLED_WRITE, str(tmp_path), moment]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert load_features(video_feature_path(tmp_path, "clip", "v"), "features")[0, 0] == 1


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_outputs_get_the_mode_a_new_file_gets_under_the_umask(tmp_path, umask):
    """Readable by others as the umask allows (a shared output folder), not mkstemp's 0600."""
    previous = os.umask(umask)
    try:
        plain = tmp_path / "plain"
        plain.write_text("x")
        written = atomic_write_json(tmp_path / "record.json", {"a": 1})
    finally:
        os.umask(previous)
    assert written.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o666 & ~umask
