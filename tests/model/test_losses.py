"""Matching and losses on hand-made cases."""

import torch

from model.losses import rank_contrastive
from model.matcher import hungarian_match


def test_matcher_pairs_each_target_with_its_closest_confident_query():
    logits = torch.tensor([[[5.0, 0.0], [5.0, 0.0], [-5.0, 5.0]]])  # query 2 is background
    spans = torch.tensor([[[0.8, 0.2], [0.2, 0.2], [0.2, 0.2]]])
    targets = [torch.tensor([[0.2, 0.2], [0.8, 0.2]])]
    ((queries, matched),) = hungarian_match(logits, spans, targets)
    assert dict(zip(matched.tolist(), queries.tolist(), strict=True)) == {0: 1, 1: 0}


def test_rank_contrastive_is_lower_when_scores_follow_the_labels():
    labels = torch.tensor([[0.0, 4.0, 8.0, 12.0]])
    mask = torch.ones(1, 4)
    negative = torch.zeros(1, 4)
    ordered = rank_contrastive(torch.tensor([[0.0, 1.0, 2.0, 3.0]]), negative, labels, mask)
    reversed_ = rank_contrastive(torch.tensor([[3.0, 2.0, 1.0, 0.0]]), negative, labels, mask)
    assert ordered < reversed_
