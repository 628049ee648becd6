"""Training steps of ours and the reference at full size, on the same weights and batches.

    python benchmarks/reference_steps.py --reference PATH/TO/dpaul06-VideoLights [--steps 5]
        [--init-losses 30] [--dropout-streams 8]

VideoLights-B with QVHighlights shapes (benchmarks/train.py's batches, one per step), the
reference's own initial weights converted to ours, float32, each side's own optimiser (ours
fused AdamW, the reference's plain), clipping at 0.1. Dropout is replaced on both sides by a
deterministic stand-in at torch's dropout kernel, which every dropout of both reaches (ours
with the "torch" sampler):

- `off`: the identity;
- `smooth`: x * (1 + p sin x), elementwise and smooth, so the two sides agree only when they
  apply dropout at the same places, to the same tensors, with the same probabilities. Leaving
  one of ours out moved the step-0 loss by 1.6e-3 (Bi-CMF's dropouts) and 4.2e-3 (feature
  refinement's), against 0 to 1e-7 with every site in place.

Prints, per step, each side's total loss and their relative difference; then the parameters
whose initial values (pooled over --init-seeds constructions of each side) differ in mean or
spread by more than 5 standard errors. On the same weights and batches the step-0 losses must
agree to float32 rounding; later steps drift as rounding, which AdamW amplifies, accumulates
(1e-6 after three steps, in both modes).

--init-losses N builds each side N times with its own initialisation (torch seeds 100.., or
--init-first-seed on) and prints each weighted loss term on one batch, dropout off: per side
the mean and spread over initialisations, and permutation tests' p for the gaps in mean and
in spread. This compares the initial predictions' distributions, where the parameter test
above sees each tensor alone.

--dropout-streams N trains each side N times from the reference's seed-0 weights on 12
batches cycled, with live dropout (ours' default NumPy masks, the reference's torch ones), N
random streams each, and prints the same table of each term's mean over the last 12 steps:
the stand-ins show where dropout acts, this that its masks act alike on training.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
from pathlib import Path

import torch
from planted_vs_reference import permutation_p, spread_p
from train import TEXT_DIM, VIDEO_DIM, make_batch, reference_model, reference_terms

from model.checkpoints import build_model
from model.compat import convert_state_dict
from model.config import load_config
from model.losses import total_loss
from model.network.dropout import set_sampler
from model.train import make_optimizer

STAND_INS = {
    "off": lambda x, p: x,
    "smooth": lambda x, p: x * (1 + p * torch.sin(x)),
}


@contextlib.contextmanager
def dropout_stand_in(mode: str):
    """torch's dropout kernel replaced, in training mode, by STAND_INS[mode]."""
    stand_in = STAND_INS[mode]
    torch._VF.dropout = lambda x, p, training: stand_in(x, p) if training and p > 0 else x
    try:
        yield
    finally:
        del torch._VF.dropout


BATCHES = 12  # distinct batches, cycled: one "epoch" of the live-dropout runs


def build_side(reference: Path, side: str, sampler: str, config, initial: dict | None):
    """A fresh model of `side` ("ours" or "reference") on the reference's `initial` weights
    (None: its own initialisation), in training mode, with that side's own optimiser, and its
    loss: (outputs, batch, epoch) -> (total, {weighted term: float})."""
    if side == "ours":
        model = build_model(config, VIDEO_DIM, TEXT_DIM)
        if initial is not None:
            model.load_state_dict(convert_state_dict(initial))
        set_sampler(model, sampler)

        def loss(outputs, batch, epoch):
            return total_loss(outputs, batch[1], config.loss, epoch)

        optimizer = make_optimizer(model, config.optim)
    else:
        model, criterion = reference_model(reference, config)
        if initial is not None:
            model.load_state_dict(initial)

        def loss(outputs, batch, epoch):
            terms = reference_terms(outputs, batch[2], criterion, epoch)
            return sum(terms.values()), {k: float(v.detach()) for k, v in terms.items()}

        # The reference's own optimiser: plain AdamW over every parameter.
        lr, decay = config.optim.lr, config.optim.weight_decay
        optimizer = torch.optim.AdamW(model.parameters(), lr, weight_decay=decay)
    return model.train(), optimizer, loss


def step(side, batch, epoch: int, grad_clip: float) -> tuple[float, dict]:
    """One training step of a `build_side` triple: (total loss, weighted terms)."""
    model, optimizer, loss = side
    total, terms = loss(model(**batch[0]), batch, epoch)
    optimizer.zero_grad()
    total.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return float(total.detach()), terms


def initial_reference_weights(reference: Path, config) -> dict:
    torch.manual_seed(0)
    return reference_model(reference, config)[0].state_dict()


def compare(reference: Path, mode: str, steps: int) -> list[tuple[float, float]]:
    """(ours, reference) total loss of each step, dropout replaced by STAND_INS[mode]."""
    config = load_config("qvhighlights-b")
    initial = initial_reference_weights(reference, config)
    # Ours through torch's kernel, where the stand-in sits.
    sides = [build_side(reference, s, "torch", config, initial) for s in ("ours", "reference")]
    losses = []
    with dropout_stand_in(mode):
        for index in range(steps):
            batch = make_batch(seed=index)
            ours, theirs = (step(side, batch, 0, config.optim.grad_clip)[0] for side in sides)
            losses.append((ours, theirs))
    return losses


def live_dropout_terms(reference: Path, streams: int, steps: int) -> dict[str, list[dict]]:
    """Both sides from the reference's initial weights, on the same BATCHES batches cycled
    (the epoch, which the hard saliency terms' weight follows, advancing every BATCHES steps),
    with live dropout, each from its own random stream (ours: the default NumPy masks), once
    per torch seed 1..`streams`. Per side, per stream: each weighted loss term's mean over the
    last BATCHES steps. The only randomness is the dropout, so equal dropout gives each term
    one distribution on both sides."""
    config = load_config("qvhighlights-b")
    initial = initial_reference_weights(reference, config)
    batches = [make_batch(seed=index) for index in range(BATCHES)]
    means: dict[str, list[dict]] = {"ours": [], "reference": []}
    for name, runs in means.items():
        for stream in range(1, streams + 1):
            side = build_side(reference, name, "numpy", config, initial)
            torch.manual_seed(stream)
            logged = [
                step(side, batches[i % BATCHES], i // BATCHES, config.optim.grad_clip)[1]
                for i in range(steps)
            ]
            last = logged[-BATCHES:]
            runs.append({k: statistics.mean(terms[k] for terms in last) for k in last[0]})
    return means


def initial_terms(reference: Path, seeds: int, first: int = 100) -> dict[str, list[dict]]:
    """Per side, per torch seed first, first + 1, ...: its own initialisation's weighted loss
    terms on one batch, dropout off. Initial predictions (spans, classes, saliency) of one
    distribution on both sides give each term one distribution."""
    config = load_config("qvhighlights-b")
    batch = make_batch(seed=0)
    terms: dict[str, list[dict]] = {"ours": [], "reference": []}
    with dropout_stand_in("off"), torch.no_grad():
        for name, runs in terms.items():
            for seed in range(first, first + seeds):
                torch.manual_seed(seed)
                model, _, loss = build_side(reference, name, "torch", config, None)
                runs.append(loss(model(**batch[0]), batch, 0)[1])
    return terms


def initial_weights_differ(reference: Path, seeds: int) -> list[str]:
    """Parameters whose initial values, pooled over `seeds` constructions of each side at full
    size, differ in mean or standard deviation by more than 5 standard errors."""
    config = load_config("qvhighlights-b")
    pooled: dict[str, dict[str, list]] = {"ours": {}, "reference": {}}
    for seed in range(seeds):
        torch.manual_seed(seed)
        theirs = convert_state_dict(reference_model(reference, config)[0].state_dict())
        torch.manual_seed(seed)
        ours = build_model(config, VIDEO_DIM, TEXT_DIM).state_dict()
        for name, tensor in theirs.items():
            if tensor.is_floating_point() and tensor.numel() > 1:
                pooled["reference"].setdefault(name, []).append(tensor.flatten())
                pooled["ours"].setdefault(name, []).append(ours[name].flatten())
    differing = []
    for name in pooled["reference"]:
        theirs, ours = (torch.cat(pooled[side][name]) for side in ("reference", "ours"))
        scale, count = max(float(theirs.std()), float(ours.std())), theirs.numel()
        mean_gap, std_gap = (
            abs(float(theirs.mean() - ours.mean())),
            abs(float(theirs.std() - ours.std())),
        )
        # Standard errors of a difference of two means and of two standard deviations.
        if mean_gap > 5 * scale * (2 / count) ** 0.5 or std_gap > 5 * scale / count**0.5:
            differing.append(name)
    return differing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--init-seeds", type=int, default=6)
    parser.add_argument(
        "--dropout-streams", type=int, default=0, help="live-dropout runs a side (0: none)"
    )
    parser.add_argument("--dropout-steps", type=int, default=2 * BATCHES)
    parser.add_argument(
        "--init-losses", type=int, default=0, help="initialisations a side (0: none)"
    )
    parser.add_argument(
        "--init-first-seed", type=int, default=100, help="torch seed of the first initialisation"
    )
    args = parser.parse_args()
    if not (args.reference / "video_lights" / "model.py").is_file():
        parser.error(f"--reference {args.reference}: not a dpaul06/VideoLights checkout")
    torch.set_num_threads(min(torch.get_num_threads(), 2))
    print("| dropout | step | ours | reference | relative difference |")
    print("|---|---|---|---|---|")
    for mode in STAND_INS:
        for step, (ours, theirs) in enumerate(compare(args.reference, mode, args.steps)):
            difference = abs(ours - theirs) / theirs
            print(f"| {mode} | {step} | {ours:.6f} | {theirs:.6f} | {difference:.1e} |")

    differing = initial_weights_differ(args.reference, args.init_seeds)
    print(
        f"initial weights over {args.init_seeds} seeds: {len(differing)} parameters differ in "
        f"mean or spread by more than 5 standard errors{': ' if differing else ''}"
        + ", ".join(differing)
    )
    if args.init_losses:
        print(
            f"initial losses, {args.init_losses} initialisations a side, dropout off: each "
            "weighted term, mean ± standard deviation over initialisations, permutation p"
        )
        print_terms(initial_terms(args.reference, args.init_losses, args.init_first_seed))
    if args.dropout_streams:
        print(
            f"live dropout, {args.dropout_streams} streams a side, {args.dropout_steps} steps: "
            f"each weighted term's mean over the last {BATCHES} steps, mean ± standard deviation "
            "over streams, permutation p"
        )
        print_terms(live_dropout_terms(args.reference, args.dropout_streams, args.dropout_steps))


def print_terms(values: dict[str, list[dict]]) -> None:
    """Per term: mean ± standard deviation of each side, and the p of the gaps in mean and in
    spread."""
    print("| term | ours | reference | p (mean) | p (spread) |")
    print("|---|---|---|---|---|")
    for term in values["reference"][0]:
        ours, theirs = ([run[term] for run in values[side]] for side in ("ours", "reference"))
        cells = [f"{statistics.mean(v):.4f} ± {statistics.stdev(v):.4f}" for v in (ours, theirs)]
        tests = f"{permutation_p(ours, theirs):.2f} | {spread_p(ours, theirs):.2f}"
        print(f"| {term} | {' | '.join(cells)} | {tests} |")


if __name__ == "__main__":
    main()
