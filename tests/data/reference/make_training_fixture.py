"""Write the reference-implementation fixture of the data and training differentials
(tests/model/test_reference_training.py).

    PYTHONPATH=. python tests/data/reference/make_training_fixture.py PATH/TO/dpaul06-VideoLights

`write_tiny_set` writes a small annotation file and feature files in the released layout (two
video feature types of different lengths, two text feature types of different token counts;
tied saliency scores, six windows, every clip relevant, long videos and queries); the test
writes the same files again. On them the reference code records:

- `dataset`: per row, what `StartEndDataset.__getitem__` returns (video and text inputs, span
  targets, saliency labels and pairs) with Python's `random` seeded 1000 + row before the call,
  for graded labels (dset "hl") and window labels (an annotation path containing "pre_train");
- `order`: the sample order of its training `DataLoader` (shuffle, batch 4) over two epochs;
- `dropout`: how many elements go through dropout, per probability, in one training forward;
- `training`: the reference's own `train_epoch` and StepLR over 4 epochs of 5 steps (20 steps,
  lr_drop 2) on a small model with dropout 0 and weights from `seeded_state_dict`, in float64
  (so that rounding, which AdamW amplifies step after step, stays far below what a difference in
  the method would show; the samples are made in float32 as usual, and the reference's casts to
  float32 and its float32 no-object weight are made float64): each step's
  qids, targets, weighted loss terms and learning rate, and fingerprints of the final weights
  (`fingerprint`); plus the statistics of the reference's own initial weights. (The reference
  builds its feature refinement with dropout 0.1 whatever `--dropout` says: set to 0 here.)
- `ties`: the pairs of parameters its initialisation starts equal (the layers of a stack are
  copies of one built layer: their biases start equal), two layers in each stack.

Two reference imports the training path never uses (torchtext, fvcore) are stubbed, and its
decoder's .cuda() is a no-op, for this run only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch

from tests.data.reference.make_fixture import reference_options, seeded_state_dict

HERE = Path(__file__).parent
VIDEO_TYPES = {"slowfast_features": 6, "clip_features": 4}
TEXT_TYPES = {"clip_text_features": 5, "blip_text_features": 3}
VIDEO_DIM = sum(VIDEO_TYPES.values()) + 2  # + the temporal encoding
TEXT_DIM = sum(TEXT_TYPES.values())
ROWS, BATCH, EPOCHS, LR_DROP, LR = 18, 4, 4, 2, 1e-3


def write_tiny_set(root: Path) -> list[dict]:
    """The annotation rows; their feature files are written under `root`."""
    rng = np.random.default_rng(7)
    for name in (*VIDEO_TYPES, *TEXT_TYPES):
        (root / name).mkdir(parents=True, exist_ok=True)
    rows = []
    for index in range(ROWS):
        clips = int(rng.integers(8, 20)) if index else 80  # row 0: longer than max_v_l
        tokens = int(rng.integers(4, 12)) if index != 1 else 40  # row 1: longer than max_q_l
        for name, dim in VIDEO_TYPES.items():
            short = name == "slowfast_features" and index % 3 == 0  # one clip shorter
            video = rng.normal(size=(clips - short, dim)) * rng.uniform(0.5, 3)
            np.savez(root / name / f"v{index}.npz", features=video.astype(np.float16))
        for name, dim in TEXT_TYPES.items():
            text = rng.normal(size=(tokens + (name == "blip_text_features"), dim)) * 2
            np.savez(
                root / name / f"qid{index}.npz",
                last_hidden_state=text.astype(np.float32),
                pooler_output=text[0].astype(np.float32),
            )
        clips = min(clips, 75) - (index % 3 == 0)
        if index == 2:  # every clip relevant
            windows = [[0, 2 * clips]]
        elif index == 3:  # six windows: at most five are kept, shuffled
            windows = [[4 * k, 4 * k + 2] for k in range(min(6, clips // 2))]
        else:
            count = 1 + index % 3
            edges = np.sort(rng.choice(np.arange(clips + 1), 2 * count, replace=False))
            windows = [[2 * int(a), 2 * int(b)] for a, b in edges.reshape(-1, 2)]
        ids = sorted({c for start, end in windows for c in range(start // 2, end // 2)})
        scores = (
            rng.integers(0, 3, (len(ids), 3)) if index % 2 else rng.integers(0, 5, (len(ids), 3))
        )
        rows.append(
            {
                "qid": index,
                "query": f"query {index}",
                "vid": f"v{index}",
                # row 4: the last clip is short; row 5: the features end 5 s before the video
                "duration": 2 * clips + {4: -0.5, 5: 5}.get(index, 0),
                "relevant_windows": windows,
                "relevant_clip_ids": ids,
                "saliency_scores": scores.tolist(),
            }
        )
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def fingerprint(tensor: torch.Tensor) -> torch.Tensor:
    """(sum, L2 norm, projection on a fixed N(0, 1) vector) of a parameter, in float64."""
    flat = tensor.detach().double().flatten()
    direction = torch.randn(flat.numel(), generator=torch.Generator().manual_seed(0)).double()
    return torch.stack([flat.sum(), flat.norm(), flat @ direction])


def training_options(**overrides) -> argparse.Namespace:
    """`reference_options` with 2 decoder layers, dropout 0, our small set's feature sizes and
    the training settings."""
    settings = dict(
        device=torch.device("cpu"),
        dec_layers=2,
        dropout=0.0,
        input_dropout=0.0,
        t_feat_dim=TEXT_DIM,
        v_feat_dim=VIDEO_DIM,
        n_epoch=EPOCHS,
        lr=LR,
        wd=1e-4,
        lr_drop=LR_DROP,
        grad_clip=0.1,
        resume=None,
        pin_memory=False,
        debug=False,
        train_log_txt_formatter="{time_str} [Epoch] {epoch:03d} [Loss] {loss_str}\n",
    )
    return reference_options(**(settings | overrides))


def _import_reference(path: str):
    sys.path.insert(0, path)
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # CPU-only machine
    torchtext = types.ModuleType("torchtext")  # GloVe queries (Charades VGG) only
    torchtext.vocab = types.SimpleNamespace()
    fvcore = types.ModuleType("fvcore")  # FLOP counting only
    fvcore.nn = types.ModuleType("fvcore.nn")
    fvcore.nn.FlopCountAnalysis = None
    sys.modules.update({"torchtext": torchtext, "fvcore": fvcore, "fvcore.nn": fvcore.nn})


def dataset_kwargs(root: Path, annotations: Path) -> dict:
    return dict(
        dset_name="hl",
        data_path=str(annotations),
        v_feat_dirs=[str(root / name) for name in VIDEO_TYPES],
        q_feat_dirs=[str(root / name) for name in TEXT_TYPES],
        q_feat_type="last_hidden_state",
        max_q_l=32,
        max_v_l=75,
        ctx_mode="video_tef",
        normalize_v=True,
        normalize_t=True,
        clip_len=2,
        max_windows=5,
        span_loss_type="l1",
        txt_drop_ratio=0,
    )


def record_dataset(root: Path, rows: list[dict]) -> dict:
    from video_lights.start_end_dataset import StartEndDataset

    recorded = {}
    for labels, name in (("graded", "train.jsonl"), ("window", "pre_train.jsonl")):
        dataset = StartEndDataset(**dataset_kwargs(root, write_jsonl(root / name, rows)))
        items = []
        for index in range(len(rows)):
            random.seed(1000 + index)
            inputs = dataset[index]["model_inputs"]
            items.append(
                {
                    "video": inputs["video_feat"],
                    "text": inputs["query_feat"],
                    "spans": inputs["span_labels"],
                    "labels": torch.as_tensor(inputs["saliency_all_labels"], dtype=torch.float32),
                    "positives": torch.tensor(inputs["saliency_pos_labels"]),
                    "negatives": torch.tensor(inputs["saliency_neg_labels"]),
                }
            )
        recorded[labels] = items
    return recorded


def record_order(root: Path) -> list[list[int]]:
    from torch.utils.data import DataLoader
    from video_lights.start_end_dataset import StartEndDataset, start_end_collate

    dataset = StartEndDataset(**dataset_kwargs(root, root / "train.jsonl"))
    loader = DataLoader(dataset, BATCH, shuffle=True, collate_fn=start_end_collate)
    torch.manual_seed(0)
    return [[meta["qid"] for meta in metas] for _ in range(2) for metas, _ in loader]


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


@contextlib.contextmanager
def float_casts_to_default():
    """`Tensor.float()` of a floating tensor gives the default type (the reference casts spans
    to float32 in its gIoU); other tensors (booleans) still become float32."""
    cast = torch.Tensor.float
    torch.Tensor.float = lambda self, *a, **k: (
        self.to(torch.get_default_dtype()) if self.is_floating_point() else cast(self, *a, **k)
    )
    try:
        yield
    finally:
        torch.Tensor.float = cast


def as_float64(inputs: dict) -> dict:
    """A collated batch of the reference with its features and targets in float64."""
    return inputs | {
        "video_feat": tuple(t.double() for t in inputs["video_feat"]),
        "query_feat": tuple(t.double() for t in inputs["query_feat"]),
        "span_labels": [{"spans": e["spans"].double()} for e in inputs["span_labels"]],
        "saliency_all_labels": inputs["saliency_all_labels"].double(),
    }


@contextlib.contextmanager
def recording_dropout():
    """The (p, elements) of every dropout drawn meanwhile (torch's dropout kernel, which
    `F.dropout`, `nn.Dropout` and attention weights all reach)."""
    calls, kernel = [], torch._VF.dropout

    def dropout(x, p, training):
        if training and p > 0:
            calls.append((p, x.numel()))
        return kernel(x, p, training)

    torch._VF.dropout = dropout
    try:
        yield calls
    finally:
        del torch._VF.dropout


def dropped_elements(calls: list[tuple[float, int]]) -> dict[float, int]:
    """Elements under dropout, per probability."""
    totals: dict[float, int] = {}
    for p, count in calls:
        totals[round(p, 6)] = totals.get(round(p, 6), 0) + count
    return totals


def record_dropout_sites(root: Path) -> dict[float, int]:
    """One training-mode forward of the small model with the default dropouts (0.1, input
    0.5) on the first four samples."""
    from video_lights.model import build_model
    from video_lights.start_end_dataset import (
        StartEndDataset,
        prepare_batch_inputs,
        start_end_collate,
    )

    model, _ = build_model(training_options(dropout=0.1, input_dropout=0.5))
    dataset = StartEndDataset(**dataset_kwargs(root, root / "train.jsonl"))
    inputs, _ = prepare_batch_inputs(start_end_collate([dataset[i] for i in range(4)])[1], "cpu")
    model.train()
    with recording_dropout() as calls:
        model(**inputs)
    return dropped_elements(calls)


def equal_parameters(model) -> list[tuple[str, str]]:
    """Pairs of distinct, non-constant parameters whose initial values are equal."""
    drawn = [(n, p.detach()) for n, p in model.named_parameters() if p.numel() > 1 and p.std() > 0]
    return [
        (a, b)
        for i, (a, x) in enumerate(drawn)
        for b, y in drawn[i + 1 :]
        if x.shape == y.shape and torch.equal(x, y)
    ]


def record_ties() -> list[tuple[str, str]]:
    """The parameters that the reference's own initialisation starts equal, with two layers in
    each of its stacks (Bi-CMF, encoder, decoder)."""
    from video_lights.inference import setup_model

    torch.manual_seed(0)
    model = setup_model(training_options(bicmf_layers=2, enc_layers=2))[0]
    return equal_parameters(model)


def record_training(root: Path) -> dict:
    from torch.utils.data import DataLoader
    from video_lights import train as reference_train
    from video_lights.inference import setup_model
    from video_lights.start_end_dataset import StartEndDataset, start_end_collate

    opt = training_options(train_log_filepath=str(root / "train.log"))
    torch.manual_seed(0)
    model, criterion, optimizer, scheduler = setup_model(opt)
    init = {
        name: (p.numel(), float(p.mean()), float(p.std())) for name, p in model.named_parameters()
    }
    shapes = [(name, list(t.shape)) for name, t in model.state_dict().items()]
    model.load_state_dict(seeded_state_dict(shapes))
    model.feature_refinement.dropout.p = 0.0  # built with 0.1 whatever opt.dropout says
    model.double(), criterion.double()
    criterion.empty_weight[-1] = opt.eos_coef  # was float32(0.1)

    class Float32Dataset(StartEndDataset):
        """Samples made in float32 as usual (the steps run with float64 as the default)."""

        def __getitem__(self, index):
            with default_dtype(torch.float32):
                return super().__getitem__(index)

    steps = []

    def recording_collate(batch):
        with default_dtype(torch.float32):
            metas, inputs = start_end_collate(batch)
        inputs = as_float64(inputs)
        steps.append(
            {
                "qids": [meta["qid"] for meta in metas],
                "spans": [e["spans"] for e in inputs["span_labels"]],
                "labels": inputs["saliency_all_labels"],
                "positives": inputs["saliency_pos_labels"],
                "negatives": inputs["saliency_neg_labels"],
            }
        )
        return metas, inputs

    forward = criterion.forward

    def recording_forward(outputs, targets, epoch_i=0):
        losses = forward(outputs, targets, epoch_i)
        weights = criterion.weight_dict
        terms = {k: float(v * weights[k]) for k, v in losses.items() if k in weights}
        steps[-1] |= {
            "epoch": epoch_i,
            "terms": terms,
            "total": float(sum(losses[k] * weights[k] for k in losses if k in weights)),
            "lr": optimizer.param_groups[0]["lr"],
        }
        return losses

    criterion.forward = recording_forward
    dataset = Float32Dataset(**dataset_kwargs(root, root / "train.jsonl"))
    loader = DataLoader(dataset, BATCH, shuffle=True, collate_fn=recording_collate)
    board = types.SimpleNamespace(add_scalar=lambda *args: None)
    random.seed(0)
    with default_dtype(torch.float64), float_casts_to_default():
        for epoch in range(EPOCHS):  # the reference's train(): an epoch, then the scheduler
            reference_train.train_epoch(model, criterion, loader, optimizer, opt, epoch, board)
            scheduler.step()
    return {
        "shapes": shapes,
        "init": init,
        "steps": steps,
        "final": {name: fingerprint(t) for name, t in model.state_dict().items()},
    }


def main() -> None:
    _import_reference(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = write_tiny_set(root)
        recorded = {
            "dataset": record_dataset(root, rows),
            "order": record_order(root),
            "dropout": record_dropout_sites(root),
        }
        recorded["training"] = record_training(root)
        recorded["ties"] = record_ties()
    torch.save(recorded, HERE / "reference_training.pt")


if __name__ == "__main__":
    main()
