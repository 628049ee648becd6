"""Training steps of ours and the reference at full size, on the same weights and batches.

    python benchmarks/reference_steps.py --reference PATH/TO/dpaul06-VideoLights [--steps 5]

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
"""

from __future__ import annotations

import argparse
import contextlib
from functools import partial
from pathlib import Path

import torch
from train import TEXT_DIM, VIDEO_DIM, make_batch, reference_model, reference_total, train_step

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


def ours_total(outputs, targets, config):
    return total_loss(outputs, targets, config.loss, epoch=0)[0]


def compare(reference: Path, mode: str, steps: int) -> list[tuple[float, float]]:
    """(ours, reference) total loss of each step."""
    torch.manual_seed(0)
    config = load_config("qvhighlights-b")
    theirs, criterion = reference_model(reference, config)
    ours = build_model(config, VIDEO_DIM, TEXT_DIM)
    ours.load_state_dict(convert_state_dict(theirs.state_dict()))
    set_sampler(ours, "torch")  # through torch's kernel, where the stand-in sits
    optim = config.optim
    our_optimizer = make_optimizer(ours, optim)
    their_optimizer = torch.optim.AdamW(
        theirs.parameters(), optim.lr, weight_decay=optim.weight_decay
    )
    ours.train(), theirs.train()
    losses = []
    with dropout_stand_in(mode):
        for step in range(steps):
            inputs, targets, reference_targets = make_batch(seed=step)

            our_loss = partial(ours_total, targets=targets, config=config)
            their_loss = partial(reference_total, targets=reference_targets, criterion=criterion)
            our_value = train_step(ours, our_loss, inputs, our_optimizer)()
            their_value = train_step(theirs, their_loss, inputs, their_optimizer)()
            losses.append((our_value, their_value))
    return losses


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


if __name__ == "__main__":
    main()
