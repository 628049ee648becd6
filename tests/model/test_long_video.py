"""`predict --video` on a video longer than the model's training length: windows of that length
overlapping by half, moments merged by the reference's temporal NMS, saliency averaged.

The 10-minute video is generated (96x64, 2 fps) with a planted red segment at 560-572 s,
features come from the tiny CLIP encoder. The scorer in the planted test is determined by the
features it is given (each clip's cosine with the query's features), so the windows must carry
the plant's clips, and the merge must put the moment back at its true time."""

import json

import numpy as np
import pytest

from extractors.registry import build_encoder
from extractors.run import ExtractSettings, extract
from flows.cli import main
from model.config import load_config
from model.predict import merge_windows, predict_in_windows, temporal_nms, window_starts
from pipeline.store import load_features
from tests.model.conftest import train_one_epoch
from tests.videos import frame_with_id, write_video

FPS, MINUTES, PLANT, RED = 2, 10, (560, 572), (230, 0, 0)
QVHIGHLIGHTS = load_config("qvhighlights").data  # 75 clips of 2 s: 150 s windows


def planted_frame(index: int, width: int, height: int) -> np.ndarray:
    if PLANT[0] <= index / FPS < PLANT[1]:
        return np.full((height, width, 3), RED, np.uint8)
    return frame_with_id(index, width, height)


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    root = tmp_path_factory.mktemp("long")
    videos = root / "videos"
    videos.mkdir()
    video = write_video(
        videos / "long.mp4", MINUTES * 60 * FPS, fps=FPS, width=96, height=64, frame=planted_frame
    )
    queries = root / "queries.jsonl"
    rows = [
        {
            "qid": qid,
            "query": query,
            "vid": "long",
            "duration": 600.0,
            "relevant_windows": [[start, start + 12]],
            "relevant_clip_ids": list(range(start // 2, start // 2 + 6)),
            "saliency_scores": [[4, 4, 4]] * 6,
        }
        for qid, query, start in ((0, "something red", 20), (1, "black and white bars", 100))
    ]
    queries.write_text("".join(json.dumps(row) + "\n" for row in rows))
    features = root / "features"
    extract(videos, features, ExtractSettings(encoders=("clip",), model_size="tiny"), queries)
    return {"root": root, "video": video, "features": features, "queries": queries}


def test_windows_cover_the_video_overlapping_by_half_the_last_ending_with_it():
    assert window_starts(75, 75) == [0]
    assert window_starts(40, 75) == [0]
    assert window_starts(76, 75) == [0, 1]
    assert window_starts(300, 75) == [0, 37, 74, 111, 148, 185, 222, 225]


def test_temporal_nms_keeps_the_best_of_moments_overlapping_beyond_the_threshold():
    moments = [[1, 10, 0.8], [0, 4, 0.6], [0, 10, 0.9], [20, 30, 0.7], [2, 9, 0.5]]
    # IoU with [0, 10]: [1, 10] 0.9 (dropped), [0, 4] 0.4, [2, 9] 0.7 (kept: not above 0.7)
    assert temporal_nms(moments, 0.7, 10) == [[0, 10, 0.9], [20, 30, 0.7], [0, 4, 0.6], [2, 9, 0.5]]
    assert temporal_nms(moments, 0.7, 2) == [[0, 10, 0.9], [20, 30, 0.7]]


def test_merged_windows_shift_moments_and_average_saliency_where_they_overlap():
    first = {"qid": 3, "pred_relevant_windows": [[0, 4, 0.9], [4, 8, 0.3]]}
    second = {"qid": 3, "pred_relevant_windows": [[0, 4, 0.8], [6, 8, 0.2]]}
    first["pred_saliency_scores"], second["pred_saliency_scores"] = [1, 2, 3, 4], [10, 20, 30, 40]
    merged = merge_windows([first, second], [0, 2], clip_length=2.0, clips=6)
    assert merged["qid"] == 3
    # the second window starts 4 s in: its [0, 4] is [4, 8], which suppresses the first
    # window's [4, 8] at 0.3; as many moments are kept as one window gives
    assert merged["pred_relevant_windows"] == [[0, 4, 0.9], [4, 8, 0.8]]
    assert merged["pred_saliency_scores"] == [1, 2, 6.5, 12, 30, 40]


def feature_scorer(clip_length: float):
    """Predictions determined by the features: saliency is each clip's cosine with the query's
    first token; the moment is the span of clips above 0.95, and every window also proposes
    itself whole at a low score (a decoy the merge has to keep apart)."""

    def score(samples):
        predictions = []
        for sample in samples:
            width = sample.text.shape[1]
            similarity = sample.video[:, :width] @ sample.text[0]  # rows are L2-normalised
            inside = np.flatnonzero(similarity > 0.95)
            moments = [[0.0, len(similarity) * clip_length, 0.1]]
            if len(inside):
                span = [inside[0] * clip_length, (inside[-1] + 1) * clip_length]
                moments.insert(0, [*span, float(similarity[inside].mean())])
            predictions.append(
                {
                    "qid": sample.qid,
                    "pred_relevant_windows": moments,
                    "pred_saliency_scores": similarity.tolist(),
                }
            )
        return predictions

    return score


def test_a_moment_planted_near_the_end_of_a_10_minute_video_comes_out_at_its_time(long_video):
    video = load_features(long_video["features"] / "clip_features" / "long.npz", "features")
    assert len(video) == 300
    encoder = build_encoder("clip", "tiny", device="cpu")
    red = np.full((1, 1, 224, 224, 3), RED, np.uint8)
    query = encoder.encode_clips(red)  # the query "looks like" the plant
    row = {"qid": 0, "query": "red", "vid": "long", "duration": 600.0}
    prediction = predict_in_windows(
        [video], [query], row, QVHIGHLIGHTS, feature_scorer(QVHIGHLIGHTS.clip_length)
    )
    moments = prediction["pred_relevant_windows"]
    assert moments[0][:2] == list(PLANT)
    # two windows saw the plant; the merge keeps one moment there
    assert (
        sum(
            1
            for start, end, _ in moments
            if start < PLANT[1] and end > PLANT[0] and end - start < 150
        )
        == 1
    )
    saliency = np.asarray(prediction["pred_saliency_scores"])
    assert len(saliency) == 300
    assert set(np.flatnonzero(saliency > 0.95)) == set(range(PLANT[0] // 2, PLANT[1] // 2))


def test_predict_video_scores_the_whole_of_a_long_video(long_video, small_config, tmp_path):
    features = long_video["features"]
    checkpoint = train_one_epoch(
        tmp_path / "run",
        long_video["queries"],
        [features / "clip_features"],
        [features / "clip_text_features"],
        small_config,
    )
    status = main(
        [
            "predict",
            "--checkpoint",
            str(checkpoint),
            "--video",
            str(long_video["video"]),
            "--features",
            str(features),
            "--query",
            "something red",
            "--model-size",
            "tiny",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert status == 0
    prediction = json.loads((tmp_path / "out" / "predictions.jsonl").read_text())
    assert len(prediction["pred_saliency_scores"]) == 300
    moments = prediction["pred_relevant_windows"]
    assert len(moments) == 10 and all(0 <= s <= e <= 600 for s, e, _ in moments)
