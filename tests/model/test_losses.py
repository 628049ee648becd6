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


def test_span_conversions_round_trip_and_giou_by_hand():
    from model.spans import cxw_to_xx, generalized_iou, xx_to_cxw

    spans = torch.tensor([[0.2, 0.4], [0.5, 0.9]])
    torch.testing.assert_close(cxw_to_xx(xx_to_cxw(spans)), spans)
    # [0.2, 0.4] vs [0.5, 0.9]: no overlap, hull 0.7, union 0.6 -> gIoU = 0 - 0.1 / 0.7.
    value = generalized_iou(spans[:1], spans[1:])[0, 0]
    torch.testing.assert_close(value, torch.tensor(-0.1 / 0.7))


def saliency_outputs(scores, negative, mr, mask):
    return {
        "saliency_scores": scores,
        "saliency_scores_neg": negative,
        "saliency_scores_mr": mr,
        "video_mask": mask,
    }


def test_saliency_loss_terms_against_an_independent_computation():
    import numpy as np

    from model.losses import LossConfig, Targets, saliency_loss

    scores = torch.tensor([[0.5, 2.0, -1.0, 0.0]])
    negative = torch.tensor([[0.1, -0.3, 0.2, 0.0]])
    labels = torch.tensor([[0.0, 12.0, 3.0, 0.0]])
    mask = torch.ones(1, 4)
    targets = Targets([torch.zeros(0, 2)], labels, torch.tensor([[1, 2]]), torch.tensor([[0, 3]]))
    config = LossConfig(cos_sim=0.0, mr_to_hd=0.0, hard_pos_neg=0.0)
    got = saliency_loss(saliency_outputs(scores, negative, scores, mask), targets, config, epoch=0)

    s, n, y = scores.numpy()[0], negative.numpy()[0], labels.numpy()[0]
    negative_pair = -np.log(1 - 1 / (1 + np.exp(-n))).sum()
    margin = (max(0, 0.2 + s[0] - s[1]) + max(0, 0.2 + s[3] - s[2])) / 2 * 2
    all_s, all_y = np.concatenate([s, n]) / 0.5, np.concatenate([y, np.zeros(4)])
    rank = 0.0
    for r in range(1, 12):
        positive = all_y >= r
        if positive.any():
            logits = all_s - all_s.max()
            log_prob = logits - np.log(np.exp(logits).sum() + 1e-6)
            rank += -(log_prob * positive).sum() / (positive.sum() + 1e-6)
    expected = negative_pair + margin + rank / 12
    assert abs(float(got) - expected) < 1e-4


def test_label_cosine_and_hard_losses_against_an_independent_computation():
    import numpy as np

    from model.losses import LossConfig, Targets, saliency_loss

    scores = torch.tensor([[0.5, 2.0, -1.0, 0.0], [0.3, 0.1, 0.2, 0.4]])
    labels = torch.tensor([[0.0, 12.0, 3.0, 0.0], [6.0, 0.0, 0.0, 1.0]])
    mask = torch.ones(2, 4)
    targets = Targets(
        [torch.zeros(0, 2)] * 2, labels, torch.tensor([[1], [0]]), torch.tensor([[0], [1]])
    )
    base = LossConfig(cos_sim=0.0, mr_to_hd=0.0, hard_pos_neg=0.0)
    with_terms = LossConfig(cos_sim=1.0, mr_to_hd=0.0, hard_pos_neg=10.0)
    outputs = saliency_outputs(scores, torch.zeros(2, 4), scores, mask)
    epoch = 2
    difference = float(saliency_loss(outputs, targets, with_terms, epoch)) - float(
        saliency_loss(outputs, targets, base, epoch)
    )

    s, y = scores.numpy(), labels.numpy()
    shifted = (s - s.min()) / (y.max() - y.min())  # batch-wide minimum, as the reference
    s_norm = shifted / np.linalg.norm(shifted, axis=1, keepdims=True)
    y_norm = y / np.linalg.norm(y, axis=1, keepdims=True)
    cosine = (1 - (s_norm * y_norm).sum(1)).sum()
    positive = y > 0
    hard = ((s_norm * ~positive) ** 2).mean() + (((y_norm - s_norm) * positive) ** 2).mean()
    assert abs(difference - (cosine + (epoch + 1) * 10 * hard)) < 1e-4


def test_labels_without_a_range_give_the_limit_of_the_reference_s_loss():
    """The reference divides by the batch's label range, zero when every label is equal (one
    sample, every clip relevant with the same scores): NaN. Ours gives the reference's loss in
    the limit of labels that differ by less and less."""
    import numpy as np

    from model.losses import LossConfig, Targets, saliency_loss

    scores = torch.tensor([[0.5, 2.0, -1.0, 0.0, 1.5]])
    labels = torch.full((1, 5), 11.0)
    targets = Targets([torch.zeros(0, 2)], labels, torch.tensor([[1]]), torch.tensor([[0]]))
    outputs = saliency_outputs(scores, torch.zeros(1, 5), scores, torch.ones(1, 5))
    with_cosine = LossConfig(cos_sim=1.0, mr_to_hd=0.0, hard_pos_neg=0.0)
    without = LossConfig(cos_sim=0.0, mr_to_hd=0.0, hard_pos_neg=0.0)
    got = float(saliency_loss(outputs, targets, with_cosine, 0)) - float(
        saliency_loss(outputs, targets, without, 0)
    )

    s = scores.double().numpy()[0]
    y = 11.0 + 1e-6 * np.array([0.3, -0.2, 0.1, 0.4, -0.5])  # a range of 9e-7
    shifted = (s - s.min()) / (y.max() - y.min())  # the reference's formula
    cosine = 1 - (shifted / np.linalg.norm(shifted)) @ (y / np.linalg.norm(y))
    assert np.isfinite(got) and abs(got - cosine) < 1e-5
