"""VideoLights' training losses (the reference's SetCriterion), on the network's outputs.

total = 10 L1(span) + 1 (1 - gIoU) + 4 CE(class) + 1 saliency + 0.2 contrastive, the first
three and the query-text part of the last also on every intermediate decoder layer.
saliency = margin ranking + rank contrastive + negative pair + saliency-label cosine
           + task-coupled (MR -> HD) cosine + (epoch + 1) x 10 x (hard positive + negative MSE).
Reference quirks kept by default (switch in LossConfig): the cosine and hard losses include
padded clips and shift the scores by the batch-wide minimum (`mask_padding=True` computes them
on each sample's real clips only, shifted by that sample's own minimum, so a sample's terms do
not depend on what it is batched or padded with); the rank-contrastive sum over 11 thresholds
is divided by 12.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from model.matcher import MatchCosts, hungarian_match
from model.spans import cxw_to_xx, generalized_iou

RANK_THRESHOLDS = range(1, 12)
RANK_DIVISOR = 12
RANK_TEMPERATURE = 0.5


@dataclass(frozen=True)
class LossConfig:
    span: float = 10.0
    giou: float = 1.0
    label: float = 4.0
    saliency: float = 1.0
    contrastive: float = 0.2
    eos_coef: float = 0.1
    saliency_margin: float = 0.2
    temperature: float = 0.07
    cos_sim: float = 1.0
    mr_to_hd: float = 1.0
    hard_pos_neg: float = 10.0
    use_matcher: bool = True  # False for TVSum: saliency only
    mask_padding: bool = False
    costs: MatchCosts = MatchCosts()


@dataclass
class Targets:
    """span_targets: per sample (G, 2) normalised (centre, width); saliency_all (B, L) labels;
    saliency_pos / saliency_neg (B, P) clip indices of positive / negative pairs."""

    span_targets: list[torch.Tensor]
    saliency_all: torch.Tensor
    saliency_pos: torch.Tensor
    saliency_neg: torch.Tensor

    def to(self, device) -> Targets:
        return Targets(
            [t.to(device) for t in self.span_targets],
            self.saliency_all.to(device),
            self.saliency_pos.to(device),
            self.saliency_neg.to(device),
        )


def _matched(outputs: dict, matches) -> tuple[torch.Tensor, torch.Tensor]:
    batch = torch.cat([torch.full_like(q, b) for b, (q, _) in enumerate(matches)])
    queries = torch.cat([q for q, _ in matches])
    return batch, queries


def moment_losses(outputs: dict, targets: Targets, config: LossConfig) -> dict[str, torch.Tensor]:
    """Span L1, gIoU, classification and query-text contrastive losses of one decoder layer."""
    matches = hungarian_match(
        outputs["pred_logits"], outputs["pred_spans"], targets.span_targets, config.costs
    )
    batch, queries = _matched(outputs, matches)
    predicted = outputs["pred_spans"][batch, queries]
    target = torch.cat([t[i] for t, (_, i) in zip(targets.span_targets, matches, strict=True)])
    giou = torch.diag(generalized_iou(cxw_to_xx(predicted), cxw_to_xx(target)))

    logits = outputs["pred_logits"]
    classes = torch.ones(logits.shape[:2], dtype=torch.long, device=logits.device)  # 1 = background
    classes[batch, queries] = 0
    weight = torch.tensor([1.0, config.eos_coef], device=logits.device)
    label = F.cross_entropy(logits.transpose(1, 2), classes, weight, reduction="none").mean()

    similarity = torch.einsum("bqd,bnd->bqn", outputs["proj_queries"], outputs["proj_txt_mem"])
    similarity = similarity.sum(2) / config.temperature  # (B, Q)
    positive = torch.zeros_like(similarity, dtype=torch.bool)
    positive[batch, queries] = True
    nce = -(similarity * positive).sum(1) / positive.sum(1) + similarity.logsumexp(1)
    return {
        "loss_span": F.l1_loss(predicted, target),
        "loss_giou": (1 - giou).mean(),
        "loss_label": label,
        "loss_contrastive_align": nce.mean(),
    }


def _cosine_to_labels(scores, labels, mask, config: LossConfig) -> tuple[torch.Tensor, ...]:
    """The reference's label-cosine term: min-shift scores by the batch minimum, scale by the
    label range, L2-normalise rows, 1 - cosine with the normalised labels, summed over the batch.
    With `mask_padding`, each row is shifted by its own minimum over its real clips and padded
    clips are zeroed (the scale is left out: rows are normalised). Returns the loss and both
    normalised tensors (for the hard losses).

    A batch whose labels are all equal has no range: the reference divides by zero and its
    weights turn NaN; ours divides by 1, which normalising makes the same as any scale."""
    if config.mask_padding:
        own_minimum = scores.masked_fill(mask == 0, torch.inf).min(dim=1, keepdim=True)[0]
        scaled, labels = (scores - own_minimum) * mask, labels * mask
    else:
        label_range = labels.max() - labels.min()
        scaled = (scores - scores.min()) / torch.where(label_range > 0, label_range, 1)
    scores_norm, labels_norm = F.normalize(scaled, dim=1), F.normalize(labels, dim=1)
    return (1 - F.cosine_similarity(labels_norm, scores_norm)).sum(), scores_norm, labels_norm


def _hard_losses(scores_norm, labels_norm, labels, mask, config: LossConfig) -> torch.Tensor:
    """Mean squared error between normalised labels and scores on the negative clips plus the
    same on the positive ones: means over every clip of the batch, or its real clips only."""
    total = scores_norm.new_zeros(())
    positive = (labels > 0).float()
    for part in (1 - positive, positive):
        if config.mask_padding:
            total = total + ((labels_norm - scores_norm) * part * mask).square().sum() / mask.sum()
        else:
            total = total + F.mse_loss(labels_norm * part, scores_norm * part)
    return total


def rank_contrastive(scores, negative_scores, labels, mask) -> torch.Tensor:
    """Positives at rank >= r against the rest (and the negative pair), r = 1..11, tau 0.5."""
    all_scores = torch.cat([scores, negative_scores], dim=1)
    all_labels = torch.cat([labels, torch.zeros_like(labels)], dim=1)
    all_mask = mask.repeat(1, 2)
    all_scores = all_mask * all_scores + (1 - all_mask) * -1e3
    total = all_scores.new_zeros(())
    for rank in RANK_THRESHOLDS:
        positive = all_labels >= rank
        if not positive.any():
            continue
        logits = all_scores / RANK_TEMPERATURE
        logits = logits - logits.max(dim=1, keepdim=True)[0]
        log_prob = logits - torch.log(logits.exp().sum(1, keepdim=True) + 1e-6)
        mean_positive = (positive * log_prob * all_mask).sum(1) / (positive.sum(1) + 1e-6)
        total = total + (-mean_positive * positive.any(1)).mean()
    return total / RANK_DIVISOR


def saliency_loss(outputs: dict, targets: Targets, config: LossConfig, epoch: int) -> torch.Tensor:
    scores, mask, labels = (
        outputs["saliency_scores"],
        outputs["video_mask"].float(),
        targets.saliency_all,
    )
    negative = outputs["saliency_scores_neg"]
    negative_pair = (-torch.log(1 - torch.sigmoid(negative)) * mask).sum(1).mean()
    rank = rank_contrastive(scores, negative, labels, mask)

    rows = torch.arange(len(scores), device=scores.device)
    positive_scores = scores[rows[:, None], targets.saliency_pos]
    negative_scores = scores[rows[:, None], targets.saliency_neg]
    pairs = targets.saliency_pos.shape[1]
    margin = (config.saliency_margin + negative_scores - positive_scores).clamp(min=0).sum()
    margin = margin / (len(scores) * pairs) * 2

    cosine, scores_norm, labels_norm = _cosine_to_labels(scores, labels, mask, config)
    coupled, _, _ = _cosine_to_labels(outputs["saliency_scores_mr"], labels, mask, config)
    hard = _hard_losses(scores_norm, labels_norm, labels, mask, config)
    return (
        margin
        + rank
        + negative_pair
        + config.cos_sim * cosine
        + config.mr_to_hd * coupled
        + (epoch + 1) * config.hard_pos_neg * hard
    )


def video_text_alignment(outputs: dict, targets: Targets, config: LossConfig) -> torch.Tensor:
    """Cosine of each refined clip with the mean projected word, pushed towards the labels."""
    sentence = outputs["src_txt"].mean(dim=1, keepdim=True)
    similarity = F.cosine_similarity(sentence, outputs["src_vid"], dim=-1)
    loss, _, _ = _cosine_to_labels(
        similarity, targets.saliency_all, outputs["video_mask"].float(), config
    )
    return loss


def total_loss(outputs: dict, targets: Targets, config: LossConfig, epoch: int = 0):
    """The weighted sum and each weighted term (for logging)."""
    terms = {"loss_saliency": config.saliency * saliency_loss(outputs, targets, config, epoch)}
    if config.use_matcher:
        weights = {
            "loss_span": config.span,
            "loss_giou": config.giou,
            "loss_label": config.label,
            "loss_contrastive_align": config.contrastive,
        }
        layers = [("", outputs)] + [(f"_{i}", aux) for i, aux in enumerate(outputs["aux_outputs"])]
        for suffix, layer_outputs in layers:
            for name, value in moment_losses(layer_outputs, targets, config).items():
                terms[name + suffix] = weights[name] * value
        terms["loss_contrastive_align"] = terms["loss_contrastive_align"] + config.contrastive * (
            video_text_alignment(outputs, targets, config)
        )
    return sum(terms.values()), {name: float(value.detach()) for name, value in terms.items()}
