"""Hungarian matching of predicted moments to ground-truth windows (scipy), with the
reference's costs: 10 x L1 on (centre, width) + 1 x (-gIoU) + 4 x (-foreground probability)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy.optimize import linear_sum_assignment

from model.spans import cxw_to_xx, generalized_iou


@dataclass(frozen=True)
class MatchCosts:
    span: float = 10.0
    giou: float = 1.0
    label: float = 4.0


@torch.no_grad()
def hungarian_match(
    pred_logits: torch.Tensor,
    pred_spans: torch.Tensor,
    target_spans: list[torch.Tensor],
    costs: MatchCosts = MatchCosts(),
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """pred_logits (B, Q, 2), pred_spans (B, Q, 2) (centre, width); target_spans: per sample
    (G_b, 2) (centre, width). Returns per sample (query indices, target indices)."""
    foreground = pred_logits.softmax(-1)[..., 0]
    matches = []
    for b, targets in enumerate(target_spans):
        if len(targets) == 0:
            empty = torch.empty(0, dtype=torch.long)
            matches.append((empty, empty))
            continue
        cost = (
            costs.span * torch.cdist(pred_spans[b], targets, p=1)
            - costs.giou * generalized_iou(cxw_to_xx(pred_spans[b]), cxw_to_xx(targets))
            - costs.label * foreground[b][:, None]
        )
        rows, cols = linear_sum_assignment(cost.cpu().numpy())
        matches.append(
            (torch.as_tensor(rows, dtype=torch.long), torch.as_tensor(cols, dtype=torch.long))
        )
    return matches
