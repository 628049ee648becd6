"""Resume restores every random generator training draws from: torch (CPU and CUDA), NumPy and
Python. (That the resumed run ends at the uninterrupted run's weights: test_training.py.)"""

import random
from dataclasses import replace

import numpy as np
import torch

from model.checkpoints import (
    load_checkpoint,
    read_torch_file,
    restore_rng_states,
    rng_states,
    save_checkpoint,
)
from model.train import LATEST, TrainSettings, train


def draws() -> tuple:
    return torch.rand(3).tolist(), np.random.random(3).tolist(), [random.random() for _ in range(3)]


def test_rng_states_survive_a_checkpoint_and_restore_every_generator(tmp_path):
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    path = save_checkpoint(tmp_path / "rng.ckpt", {"rng": rng_states()})
    expected = draws()
    torch.manual_seed(4), np.random.seed(5), random.seed(6)
    restore_rng_states(read_torch_file(path)["rng"])  # weights_only loading
    assert draws() == expected


def test_cuda_generator_states_are_saved_and_restored(tmp_path, monkeypatch):
    """No GPU here: torch.cuda's state getters and setters are replaced by a fake two-device
    state (a seam); what is tested is that it is saved, read back and handed back."""
    devices = [torch.arange(16, dtype=torch.uint8), torch.arange(16, 32, dtype=torch.uint8)]
    restored = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [d.clone() for d in devices])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.extend)
    path = save_checkpoint(tmp_path / "rng.ckpt", {"rng": rng_states()})
    restore_rng_states(read_torch_file(path)["rng"])
    assert len(restored) == 2
    for got, expected in zip(restored, devices, strict=True):
        assert torch.equal(got, expected)


def test_resume_sets_the_generators_to_the_checkpoint_states(planted, small_config, tmp_path):
    """A run resumed from a checkpoint (here one that has no epoch left to run) leaves each
    generator where the checkpoint says, not where seeding at start-up put it."""
    settings = TrainSettings(
        train_annotations=planted["train"],
        video_feature_dirs=planted["video_dirs"],
        text_feature_dirs=planted["text_dirs"],
        out=tmp_path / "run",
        config=small_config,
        device="cpu",
        epochs=1,
    )
    train(settings)
    checkpoint = load_checkpoint(tmp_path / "run" / LATEST)
    torch.manual_seed(7), np.random.seed(8), random.seed(9)
    checkpoint["rng"] = rng_states()
    expected = draws()
    save_checkpoint(tmp_path / "run" / LATEST, checkpoint)

    train(replace(settings, resume=True))
    assert draws() == expected
