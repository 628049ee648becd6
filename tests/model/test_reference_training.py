"""Data and training differentials against the reference implementation (dpaul06/VideoLights).

tests/data/reference/reference_training.pt was recorded by running the reference code
(tests/data/reference/make_training_fixture.py) on the small annotation and feature set that
`write_tiny_set` writes; the tests write the same files and run our code on them."""

from dataclasses import replace

import pytest
import torch

from model.checkpoints import build_model
from model.compat import convert_state_dict, rename
from model.config import QVHIGHLIGHTS, DataConfig, ModelConfig, OptimConfig
from model.data import Batch, MomentDataset, make_collate
from model.train import (
    make_loader,
    make_optimizer,
    make_order_generator,
    make_scheduler,
    train_step,
)
from tests.data.reference.make_fixture import seeded_state_dict
from tests.data.reference.make_training_fixture import (
    BATCH,
    EPOCHS,
    LR,
    LR_DROP,
    TEXT_TYPES,
    VIDEO_TYPES,
    default_dtype,
    dropped_elements,
    equal_parameters,
    fingerprint,
    recording_dropout,
    write_tiny_set,
)

CONFIG = replace(
    QVHIGHLIGHTS,
    name="reference-small",
    model=ModelConfig(
        encoder_layers=1, decoder_layers=2, ffn_dim=64, dropout=0.0, input_dropout=0.0
    ),
    optim=OptimConfig(lr=LR, lr_drop=LR_DROP, batch_size=BATCH, epochs=EPOCHS),
)


@pytest.fixture(scope="module")
def recorded(data_dir):
    return torch.load(data_dir / "reference" / "reference_training.pt", weights_only=True)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return root, write_tiny_set(root)


def make_dataset(tiny_set, data: DataConfig, seed: int = 0) -> MomentDataset:
    root, rows = tiny_set
    return MomentDataset(
        rows, [root / n for n in VIDEO_TYPES], [root / n for n in TEXT_TYPES], data, True, seed
    )


@pytest.mark.parametrize(
    ("labels", "data"), [("graded", DataConfig()), ("window", DataConfig(labels="window"))]
)
def test_samples_and_targets_equal_the_reference_s_given_the_same_random_state(
    recorded, tiny_set, labels, data
):
    """Inputs (per-type normalisation and cuts, temporal encoding), span targets, saliency labels
    and the positive / negative clips drawn with the same Python random state."""
    dataset = make_dataset(tiny_set, data)
    for index, expected in enumerate(recorded["dataset"][labels]):
        sample = dataset[index]
        clips = len(sample.video)
        torch.testing.assert_close(
            torch.from_numpy(sample.video), expected["video"], rtol=0, atol=0
        )
        torch.testing.assert_close(torch.from_numpy(sample.text), expected["text"], rtol=0, atol=0)
        dataset.random.seed(1000 + index)
        spans = dataset.span_target(sample.row, clips)
        saliency, positives, negatives = dataset.saliency_target(sample.row, clips)
        message = f"row {index}"
        torch.testing.assert_close(spans, expected["spans"], rtol=0, atol=0, msg=message)
        assert torch.equal(torch.from_numpy(saliency), expected["labels"]), message
        assert positives == expected["positives"].tolist(), message
        assert negatives == expected["negatives"].tolist(), message


def test_epochs_are_fresh_permutations_in_the_reference_s_batches(recorded, tiny_set):
    """Both loaders are torch's shuffling sampler: every epoch a new permutation of all samples,
    cut into batches of the same sizes. (The permutations come from different generators: the
    reference's from the global one, ours from its own, so they are equal in distribution.)"""
    dataset = make_dataset(tiny_set, DataConfig())
    loader = make_loader(dataset, CONFIG.optim, torch.Generator().manual_seed(0))
    ours = [[s.qid for s in batch.samples] for _ in range(2) for batch in loader]
    theirs = recorded["order"]
    assert [len(b) for b in ours] == [len(b) for b in theirs]
    per_epoch = len(ours) // 2
    epochs = [sum(ours[:per_epoch], []), sum(ours[per_epoch:], [])]
    assert all(sorted(epoch) == list(range(len(dataset))) for epoch in epochs)
    assert epochs[0] != epochs[1]


def test_the_epoch_order_does_not_restart_the_stream_that_drew_the_weights():
    """The reference seeds each epoch's order from torch's global stream after the weights are
    drawn. A generator seeded with the run's seed (as the global one is) would start where the
    weights started, and each epoch's permutation would be made of the first layer's numbers."""
    torch.manual_seed(7)
    where_the_weights_start = torch.get_rng_state()
    assert torch.equal(torch.Generator().manual_seed(7).get_state(), where_the_weights_start)
    build_model(CONFIG, 8, 8)
    order = make_order_generator()
    assert not torch.equal(order.get_state(), where_the_weights_start)


def as_float64(batch: Batch) -> Batch:
    targets = batch.targets
    spans = [s.double() for s in targets.span_targets]
    return replace(
        batch,
        video=batch.video.double(),
        video_mask=batch.video_mask.double(),
        text=batch.text.double(),
        text_mask=batch.text_mask.double(),
        targets=replace(targets, span_targets=spans, saliency_all=targets.saliency_all.double()),
    )


def test_twenty_training_steps_follow_the_reference_s_trajectory(recorded, tiny_set):
    """Dropout 0, the same initial weights, the reference's batches (its order; our dataset
    drawing the pairs from the same random state), both in float64: every step's total and
    weighted loss terms equal the reference's (relative 1e-9), across four epochs (the hard-loss
    weight (epoch + 1) x 10, StepLR dividing the rate by 10 after epoch 2), with AdamW and
    clipping at 0.1; so do the final weights' fingerprints (relative 1e-9)."""
    training = recorded["training"]
    dataset = make_dataset(tiny_set, DataConfig())
    first = dataset[0]
    collate = make_collate(dataset)
    cpu = torch.device("cpu")
    epoch = 0
    weights = convert_state_dict(seeded_state_dict(training["shapes"]))  # drawn in float32
    with default_dtype(torch.float64):
        model = build_model(CONFIG, first.video.shape[1], first.text.shape[1])
        model.load_state_dict(weights)
        optimizer = make_optimizer(model, CONFIG.optim)
        scheduler = make_scheduler(optimizer, CONFIG.optim)
        for number, step in enumerate(training["steps"]):
            if step["epoch"] != epoch:
                scheduler.step()
                epoch = step["epoch"]
            batch = collate([dataset[qid] for qid in step["qids"]])
            assert batch.targets.saliency_all.tolist() == step["labels"].tolist()
            assert batch.targets.saliency_pos.tolist() == step["positives"].tolist()
            assert batch.targets.saliency_neg.tolist() == step["negatives"].tolist()
            assert optimizer.param_groups[0]["lr"] == pytest.approx(step["lr"], rel=1e-12)
            total, terms = train_step(model, as_float64(batch), optimizer, CONFIG, cpu, epoch)
            message = f"step {number} (epoch {epoch})"
            assert terms.keys() == step["terms"].keys(), message
            for name, value in terms.items():
                expected = step["terms"][name]
                assert value == pytest.approx(expected, rel=1e-9), f"{message}: {name}"
            assert total == pytest.approx(step["total"], rel=1e-9), message

    final = {rename(name): value for name, value in training["final"].items() if rename(name)}
    ours = model.state_dict()
    assert final.keys() == ours.keys()
    for name, expected in final.items():
        torch.testing.assert_close(
            fingerprint(ours[name]), expected, rtol=1e-9, atol=1e-12, msg=name
        )


def test_initial_weights_follow_the_reference_s_distributions(recorded):
    """Every parameter of 30 or more values has the mean and standard deviation of the
    reference's own initialisation (recorded): the standard deviations within 4 / sqrt(n)
    relative (the sample standard deviation of n uniform or normal draws varies by at most
    0.71 / sqrt(n)), the means within 6 sigma / sqrt(n); constant ones (norms) exactly."""
    torch.manual_seed(0)
    ours = dict(build_model(CONFIG, 12, 8).named_parameters())
    compared = 0
    for name, (count, mean, std) in recorded["training"]["init"].items():
        if rename(name) is None or count < 30:
            continue
        weights = ours[rename(name)].detach()
        assert weights.numel() == count, name
        assert float(weights.std()) == pytest.approx(std, rel=4 / count**0.5, abs=1e-12), name
        assert abs(float(weights.mean()) - mean) <= 6 * std / count**0.5 + 1e-12, name
        compared += 1
    assert compared > 100


def test_initial_weights_start_equal_where_the_reference_s_do(recorded):
    """Each stack's layers are copies of one built layer in the reference, so their biases
    start equal (recorded with two layers in each stack); ours starts equal at the same pairs
    and nowhere else."""
    model = replace(CONFIG.model, bicmf_layers=2, encoder_layers=2)
    torch.manual_seed(0)
    ours = set(equal_parameters(build_model(replace(CONFIG, model=model), 12, 8)))
    expected = {(rename(a), rename(b)) for a, b in recorded["ties"]}
    assert {"bicmf", "encoder", "decoder"} == {a.split(".")[0] for a, _ in expected}
    assert ours == expected


def test_window_labels_follow_the_clip_grid_with_the_switch(tiny_set):
    """Row 5's features end 5 s before its video: by default (the reference) its clips are
    taken to last duration / clips seconds; `window_clips_from_duration: false` labels the clips
    of the 2 s grid that the window covers."""
    root, rows = tiny_set
    dataset = make_dataset(tiny_set, DataConfig(labels="window", window_clips_from_duration=False))
    clips = len(dataset[5].video)
    start, end = rows[5]["relevant_windows"][0]
    labels, _, _ = dataset.saliency_target(rows[5], clips)
    expected = [1.0 if start // 2 <= c < end // 2 else 0.0 for c in range(clips)]
    assert labels.tolist() == expected
    default, _, _ = make_dataset(tiny_set, DataConfig(labels="window")).saliency_target(
        rows[5], clips
    )
    assert default.tolist() != expected


def test_dropout_is_drawn_where_the_reference_draws_it(recorded, tiny_set):
    """One training forward with the default dropouts (0.1; 0.5 on the inputs) puts as many
    elements through dropout, per probability, as the reference's, once one more pass of our
    decoder is counted: the reference also runs its decoder on the negative pairs, whose
    outputs it never uses (ours skips it)."""
    model_config = replace(CONFIG.model, dropout=0.1, input_dropout=0.5, dropout_sampler="torch")
    dataset = make_dataset(tiny_set, DataConfig())
    model = build_model(replace(CONFIG, model=model_config), 12, 8).train()
    batch = make_collate(dataset)([dataset[i] for i in range(4)])
    decoder_calls = []
    with recording_dropout() as calls:
        model.decoder.register_forward_pre_hook(lambda *_: decoder_calls.append(len(calls)))
        model.decoder.register_forward_hook(lambda *_: decoder_calls.append(len(calls)))
        model(**batch.inputs("cpu"))
    start, end = decoder_calls
    totals = dropped_elements(calls + calls[start:end])
    assert totals == recorded["dropout"]
