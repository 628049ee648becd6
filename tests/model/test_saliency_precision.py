"""Saliency in predictions: float16 as the reference's moment inference writes it, or float32."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from model.data import Sample, collate_inputs
from model.predict import predict_batch

DATA = Path(__file__).resolve().parent.parent / "data" / "qvhighlights"
# 10.001 and 10.003 differ in float32 but are one float16 (its spacing is 1/128 from 8 to 16).
SALIENCY = [0.123456, -13.4071, 10.001, 10.003]


class FixedOutputs(nn.Module):
    """A stand-in network whose outputs are given: predict_batch is what is under test."""

    def forward(self, src_txt, src_txt_mask, src_vid, src_vid_mask):
        return {
            "pred_logits": torch.zeros(1, 2, 2),
            "pred_spans": torch.tensor([[[0.5, 0.5], [0.25, 0.5]]]),
            "saliency_scores": torch.tensor([SALIENCY]),
        }


def scores(**switches) -> list[float]:
    sample = Sample(1, "v", 8.0, np.zeros((4, 3), np.float32), np.zeros((2, 3), np.float32), {})
    batch = collate_inputs([sample])
    (entry,) = predict_batch(FixedOutputs(), batch, torch.device("cpu"), 2.0, **switches)
    return entry["pred_saliency_scores"]


def test_predictions_with_moments_carry_the_exact_float16_saliency_by_default():
    expected = [float(np.float16(np.float32(x))) for x in SALIENCY]  # NumPy's rounding
    assert scores() == expected
    assert scores()[2] == scores()[3] == 10.0  # tied, as in the reference's files


def test_the_switch_writes_float32_saliency_to_4_decimals():
    expected = [round(float(np.float32(x)), 4) for x in SALIENCY]
    assert scores(float16_saliency=False) == expected
    assert scores(float16_saliency=False)[2] < scores(float16_saliency=False)[3]


def test_without_moments_tvsum_s_saliency_stays_float32():
    expected = [round(float(np.float32(x)), 4) for x in SALIENCY]
    assert scores(with_moments=False) == expected


@pytest.mark.parametrize("name", ["qd_detr_val_preds.jsonl", "moment_detr_sample_val_preds.jsonl"])
def test_the_family_s_released_predictions_carry_float16_saliency(name):
    """The premise of the default: prediction files of QD-DETR and Moment-DETR (the code the
    reference's inference comes from) hold only float16 values."""
    rows = [json.loads(line) for line in (DATA / name).read_text().splitlines() if line]
    values = np.array([v for row in rows for v in row["pred_saliency_scores"]])
    assert len(values) > 1000
    assert np.array_equal(values.astype(np.float16).astype(np.float64), values)
