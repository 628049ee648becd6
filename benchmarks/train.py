"""Seconds per training step on CPU, ours and (optionally) the reference implementation's.

    python benchmarks/train.py [--reference PATH/TO/dpaul06-VideoLights] [--steps 5]

QVHighlights shapes with VideoLights-B sizes: batch 32, 75 clips of 3586 dims, 32 tokens of 1280
dims, graded saliency, 1-3 windows per sample. A step is forward, loss, backward, gradient
clipping and AdamW (each side's own: ours fused, the reference's plain); the median step of
each, the two interleaved; and the arithmetic of a step (GFLOP). With --reference, the reference
model gets our initial weights (converted with model.compat), both compute the step-0 loss on
the same batch and targets (they must agree), and the ratio ours / reference is printed (goal <=
0.8). The reference calls .cuda() in its decoder; on a CPU machine that call is made a no-op
inside this process.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch
from timing import interleaved
from torch.utils.flop_counter import FlopCounterMode

from model.checkpoints import build_model
from model.config import load_config
from model.losses import Targets, total_loss
from model.spans import xx_to_cxw
from model.train import make_optimizer

BATCH, CLIPS, TOKENS, VIDEO_DIM, TEXT_DIM = 32, 75, 32, 3586, 1280


def make_batch(seed: int = 0, batch: int = BATCH):
    """Inputs and targets in our format, and the same targets in the reference's."""
    rng = np.random.default_rng(seed)
    inputs = {
        "src_txt": torch.randn(
            batch, TOKENS, TEXT_DIM, generator=torch.Generator().manual_seed(seed)
        ),
        "src_txt_mask": torch.ones(batch, TOKENS),
        "src_vid": torch.randn(
            batch, CLIPS, VIDEO_DIM, generator=torch.Generator().manual_seed(seed + 1)
        ),
        "src_vid_mask": torch.ones(batch, CLIPS),
    }
    spans, labels, positives, negatives = [], np.zeros((batch, CLIPS), np.float32), [], []
    for b in range(batch):
        inputs["src_txt_mask"][b, rng.integers(8, TOKENS) :] = 0
        start = int(rng.integers(0, CLIPS - 10))
        length = int(rng.integers(2, 10))
        spans.append(
            xx_to_cxw(torch.tensor([[start, start + length]], dtype=torch.float32) / CLIPS)
        )
        labels[b, start : start + length] = rng.integers(1, 13, length)
        positives.append([start, start + length - 1])
        negatives.append([start + length, max(start - 1, 0)])
    ours = Targets(spans, torch.tensor(labels), torch.tensor(positives), torch.tensor(negatives))
    reference = {
        "span_labels": [{"spans": s} for s in spans],
        "saliency_pos_labels": ours.saliency_pos,
        "saliency_neg_labels": ours.saliency_neg,
        "saliency_all_labels": ours.saliency_all,
        "saliency_pos_index": (ours.saliency_all > 0).long(),
    }
    return inputs, ours, reference


def time_steps(steps: dict, count: int) -> dict[str, float]:
    """Median seconds per step of each, the steps interleaved; one warm-up step each."""
    for step in steps.values():
        step()
    seconds, _ = interleaved(steps, count)
    return {name: float(np.median(values)) for name, values in seconds.items()}


def train_step(model, compute_loss, inputs, optimizer, autocast: bool = False):
    """One step as a function; `autocast`: forward and loss under bf16 autocast. It returns the
    loss as a float, which waits for a GPU to finish the step."""
    device_type = next(model.parameters()).device.type

    def step():
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=autocast):
            loss = compute_loss(model(**inputs))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        optimizer.step()
        return float(loss.detach())

    return step


def step_flops(model, compute_loss, inputs) -> float:
    """Floating-point operations of one forward and backward, as torch's FLOP counter counts
    them: matrix products, attention and convolutions; elementwise work is left out."""
    with FlopCounterMode(display=False) as counter:
        compute_loss(model(**inputs)).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def reference_model(path: Path, config):
    """The reference model and criterion with our preset's settings."""
    sys.path.insert(0, str(path))
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # CPU-only machine
    from video_lights.model import build_model as build_reference

    m, loss = config.model, config.loss
    opt = argparse.Namespace(
        device="cpu",
        hidden_dim=m.hidden_dim,
        nheads=m.heads,
        bicmf_layers=m.bicmf_layers,
        enc_layers=m.encoder_layers,
        dec_layers=m.decoder_layers,
        dim_feedforward=m.ffn_dim,
        dropout=m.dropout,
        pre_norm=False,
        num_queries=m.num_queries,
        t_feat_dim=TEXT_DIM,
        v_feat_dim=VIDEO_DIM,
        a_feat_dim=0,
        input_dropout=m.input_dropout,
        aux_loss=True,
        mr_to_hd_loss=True,
        contrastive_align_loss=True,
        contrastive_hdim=m.contrastive_dim,
        span_loss_type="l1",
        use_txt_pos=False,
        n_input_proj=2,
        clip_length=2,
        position_embedding="sine",
        max_q_l=32,
        set_cost_span=loss.costs.span,
        set_cost_giou=loss.costs.giou,
        set_cost_class=loss.costs.label,
        max_v_l=75,
        span_loss_coef=loss.span,
        giou_loss_coef=loss.giou,
        label_loss_coef=loss.label,
        lw_saliency=loss.saliency,
        contrastive_align_loss_coef=loss.contrastive,
        eos_coef=loss.eos_coef,
        temperature=loss.temperature,
        saliency_margin=loss.saliency_margin,
        n_epoch=200,
        hard_pos_neg_loss=True,
        hard_pos_neg_loss_coef=loss.hard_pos_neg,
        mr_to_hd_loss_coef=loss.mr_to_hd,
        cos_sim_loss_coef=loss.cos_sim,
        dset_name="hl",
    )
    return build_reference(opt)


def reference_terms(outputs, targets, criterion, epoch: int = 0) -> dict:
    """The reference criterion's weighted terms, as its train_epoch weighs and logs them."""
    terms = criterion(outputs, targets, epoch_i=epoch)
    weights = criterion.weight_dict
    return {k: terms[k] * weights[k] for k in terms if k in weights}


def reference_total(outputs, targets, criterion):
    """The reference criterion's weighted total, as its train_epoch sums it."""
    return sum(reference_terms(outputs, targets, criterion).values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, help="a dpaul06/VideoLights checkout")
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    config = load_config("qvhighlights-b")
    inputs, targets, reference_targets = make_batch()
    ours = build_model(config, VIDEO_DIM, TEXT_DIM)

    def our_loss(outputs):
        return total_loss(outputs, targets, config.loss, epoch=0)[0]

    if args.reference is not None:
        from model.compat import convert_state_dict

        theirs, criterion = reference_model(args.reference, config)
        ours.load_state_dict(convert_state_dict(theirs.state_dict()))

        their_loss = partial(reference_total, targets=reference_targets, criterion=criterion)

        ours.eval(), theirs.eval()  # dropout off: the step-0 losses must agree
        with torch.no_grad():
            our_value = float(our_loss(ours(**inputs)))
            their_value = float(their_loss(theirs(**inputs)))
        print(f"step-0 loss: ours {our_value:.6f}, reference {their_value:.6f}")
        ours.train(), theirs.train()

    flops = step_flops(ours, our_loss, inputs)
    steps = {"ours": train_step(ours, our_loss, inputs, make_optimizer(ours, config.optim))}
    if args.reference is not None:
        # The reference's own optimizer: plain AdamW.
        lr, decay = config.optim.lr, config.optim.weight_decay
        optimizer = torch.optim.AdamW(theirs.parameters(), lr, weight_decay=decay)
        steps["reference"] = train_step(theirs, their_loss, inputs, optimizer)
    seconds = time_steps(steps, args.steps)
    print(f"ours:      {seconds['ours']:6.2f} s/step (batch {BATCH}, {CLIPS} clips, VideoLights-B)")
    print(f"a step's forward and backward: {flops / 1e9:.0f} GFLOP")
    if args.reference is not None:
        print(f"reference: {seconds['reference']:6.2f} s/step")
        ratio = seconds["ours"] / seconds["reference"]
        print(f"ratio ours / reference: {ratio:.2f}  (goal <= 0.8)")


if __name__ == "__main__":
    main()
