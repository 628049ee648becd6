"""Span conversions and temporal IoU, on tensors. Spans are normalised to [0, 1] of the video."""

from __future__ import annotations

import torch


def cxw_to_xx(spans: torch.Tensor) -> torch.Tensor:
    """(..., 2) (centre, width) -> (start, end)."""
    centre, width = spans.unbind(-1)
    return torch.stack([centre - width / 2, centre + width / 2], dim=-1)


def xx_to_cxw(spans: torch.Tensor) -> torch.Tensor:
    """(..., 2) (start, end) -> (centre, width)."""
    start, end = spans.unbind(-1)
    return torch.stack([(start + end) / 2, end - start], dim=-1)


def pairwise_iou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 2), (M, 2) as (start, end) -> IoU (N, M) and union (N, M)."""
    left = torch.max(a[:, None, 0], b[None, :, 0])
    right = torch.min(a[:, None, 1], b[None, :, 1])
    intersection = (right - left).clamp(min=0)
    union = (a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - intersection
    return intersection / union, union


def generalized_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Generalised IoU of every pair: (N, 2), (M, 2) as (start, end) -> (N, M)."""
    iou, union = pairwise_iou(a, b)
    hull = torch.max(a[:, None, 1], b[None, :, 1]) - torch.min(a[:, None, 0], b[None, :, 0])
    return iou - (hull - union) / hull
