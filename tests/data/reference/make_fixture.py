"""Write the reference-implementation fixture used by tests/model/test_compat.py.

    python tests/data/reference/make_fixture.py PATH/TO/dpaul06-VideoLights-checkout

Builds the reference VideoLight model (small: 1 Bi-CMF, 1 encoder and 1 decoder layer,
feed-forward 64, video 10-d incl. the 2 temporal dims, text 8-d), fills its weights with
`seeded_state_dict` (so the test can rebuild them from names and shapes instead of storing
megabytes), and records its eval-mode outputs on fixed inputs, computed by the reference code.
The reference decoder calls .cuda() in forward; on a CPU machine that call is made a no-op for
this run only.
"""

import argparse
import sys
from pathlib import Path

import torch

HERE = Path(__file__).parent
SEED, SCALE = 0, 0.1


def seeded_state_dict(shapes: list[tuple[str, list[int]]]) -> dict[str, torch.Tensor]:
    """Deterministic weights for the given (name, shape) list: N(0, 1) x 0.1, in list order."""
    generator = torch.Generator().manual_seed(SEED)
    return {name: torch.randn(shape, generator=generator) * SCALE for name, shape in shapes}


def reference_options(**overrides) -> argparse.Namespace:
    """The reference's options for a small model (1 Bi-CMF, 1 encoder and 1 decoder layer,
    feed-forward 64, video 10-d, text 8-d; hidden 256 is fixed by its decoder)."""
    values = dict(
        device="cpu",
        hidden_dim=256,
        nheads=8,
        bicmf_layers=1,
        enc_layers=1,
        dec_layers=1,
        dim_feedforward=64,
        dropout=0.1,
        pre_norm=False,
        num_queries=10,
        t_feat_dim=8,
        v_feat_dim=10,
        a_feat_dim=0,
        input_dropout=0.5,
        aux_loss=True,
        mr_to_hd_loss=True,
        contrastive_align_loss=True,
        contrastive_hdim=64,
        span_loss_type="l1",
        use_txt_pos=False,
        n_input_proj=2,
        clip_length=2,
        position_embedding="sine",
        max_q_l=32,
        set_cost_span=10,
        set_cost_giou=1,
        set_cost_class=4,
        max_v_l=75,
        span_loss_coef=10,
        giou_loss_coef=1,
        label_loss_coef=4,
        lw_saliency=1,
        contrastive_align_loss_coef=0.2,
        eos_coef=0.1,
        temperature=0.07,
        saliency_margin=0.2,
        n_epoch=200,
        hard_pos_neg_loss=True,
        hard_pos_neg_loss_coef=10,
        mr_to_hd_loss_coef=1,
        cos_sim_loss_coef=1,
        dset_name="hl",
    )
    return argparse.Namespace(**(values | overrides))


def main() -> None:
    sys.path.insert(0, sys.argv[1])
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # CPU-only machine
    from video_lights.model import build_model

    opt = reference_options()
    model, _ = build_model(opt)
    shapes = [(name, list(t.shape)) for name, t in model.state_dict().items()]
    model.load_state_dict(seeded_state_dict(shapes))
    model.eval()
    generator = torch.Generator().manual_seed(1)
    inputs = {
        "src_txt": torch.randn(3, 6, 8, generator=generator),
        "src_txt_mask": torch.tensor([[1.0] * 6, [1.0] * 4 + [0.0] * 2, [1.0] * 6]),
        "src_vid": torch.randn(3, 12, 10, generator=generator),
        "src_vid_mask": torch.tensor([[1.0] * 12, [1.0] * 9 + [0.0] * 3, [1.0] * 12]),
    }
    with torch.no_grad():
        outputs = model(**inputs)
    keep = (
        "pred_logits",
        "pred_spans",
        "saliency_scores",
        "saliency_scores_neg",
        "saliency_scores_mr",
    )
    torch.save(
        {
            "opt": vars(opt),
            "shapes": shapes,
            "inputs": inputs,
            "outputs": {k: outputs[k] for k in keep},
        },
        HERE / "reference_small.pt",
    )


if __name__ == "__main__":
    main()
