import pytest


def query(qid, windows, duration=150, clip_ids=(), scores=()):
    """A ground-truth row in the QVHighlights schema."""
    return {
        "qid": qid,
        "query": "q",
        "vid": f"v{qid}",
        "duration": duration,
        "relevant_windows": [list(w) for w in windows],
        "relevant_clip_ids": list(clip_ids),
        "saliency_scores": [list(s) for s in scores],
    }


def prediction(qid, windows=None, saliency=None):
    row = {"qid": qid}
    if windows is not None:
        row["pred_relevant_windows"] = [list(w) for w in windows]
    if saliency is not None:
        row["pred_saliency_scores"] = list(saliency)
    return row


@pytest.fixture
def make_query():
    return query


@pytest.fixture
def make_prediction():
    return prediction
