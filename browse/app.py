"""The web app: Starlette routes over a synthetic set, a prediction set, the videos and, with a
checkpoint, new queries. Pages are rendered on the server (Jinja2, SVG charts); the one script
only seeks the player. Everything served comes from this package or the named video folders."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from browse import charts
from browse.ask import Asker, AskSettings, ask_routes
from browse.media import MediaRoots, playable, thumbnail
from browse.predictions import ORDERS, PredictionSet
from browse.sources import Sources
from browse.synthset import SynthSet, clip_length_of
from model.eval.qvhighlights import CLIP_LENGTH

HERE = Path(__file__).parent
PAGE_SIZE = 50
THUMBNAILS = 8  # frames drawn for a video the browser cannot play


class Viewer:
    """What the pages show, loaded once when the app starts."""

    def __init__(self, sources: Sources, ask: AskSettings):
        self.sources = sources
        self.media = MediaRoots(sources.videos)
        self.synth = SynthSet(sources.synth) if sources.synth else None
        self.predictions = (
            PredictionSet(sources.predictions, sources.gt) if sources.predictions else None
        )
        self.asker = None
        if sources.checkpoint is not None:
            self.asker = Asker(sources.checkpoint, sources.cache, self.media, ask)

    def player(self, vid: str, duration: float) -> dict:
        """How to show a video: its URL and whether it plays, else thumbnails of its frames."""
        path = self.media.path(vid)
        if path is None:
            return {"vid": vid, "url": None}
        if playable(path):
            return {"vid": vid, "url": self.media.url(vid), "playable": True}
        times = [round(duration * (k + 0.5) / THUMBNAILS, 2) for k in range(THUMBNAILS)]
        return {"vid": vid, "url": self.media.url(vid), "playable": False, "thumbnails": times}


def _page_number(request: Request) -> int:
    value = request.query_params.get("page", "0")
    if not value.isdigit():
        raise HTTPException(404, f"no page {value!r}")
    return int(value)


def build_app(sources: Sources, ask: AskSettings | None = None) -> Starlette:
    """The app. Pages that read files are plain functions: Starlette runs them on its thread
    pool, so a page being drawn never holds up a video being streamed."""
    viewer = Viewer(sources, ask or AskSettings())
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.globals.update(viewer=viewer, chart_width=charts.WIDTH, chart=charts)

    def render(request: Request, name: str, **context) -> Response:
        return templates.TemplateResponse(request, name, context)

    async def home(request: Request):
        for available, url in (
            (viewer.synth, "/synth"),
            (viewer.predictions, "/predictions"),
            (viewer.asker, "/ask"),
        ):
            if available is not None:
                return RedirectResponse(url)
        raise HTTPException(404)

    def synth_list(request: Request):
        if viewer.synth is None:
            raise HTTPException(404, "no synthetic set was given (--synth)")
        number = _page_number(request)
        pages = max(1, -(-len(viewer.synth) // PAGE_SIZE))
        if number >= pages:
            raise HTTPException(404, f"no page {number}")
        videos = viewer.synth.page(number, PAGE_SIZE)
        return render(request, "synth_list.html", videos=videos, page=number, pages=pages)

    def synth_video(request: Request):
        vid = request.path_params["vid"]
        if viewer.synth is None or vid not in viewer.synth.shard_of:
            raise HTTPException(404, f"no video {vid!r} in the synthetic set")
        rows = viewer.synth.rows(vid)
        summary = viewer.synth.video_summary(vid)
        duration = rows[0]["duration"] if rows else summary.duration
        clips = len(rows[0]["clip_similarities"]) if rows else 0
        clip_length = clip_length_of(duration, clips) if rows else CLIP_LENGTH
        low = min((min(r["clip_similarities"]) for r in rows), default=0.0)
        high = max((max(r["clip_similarities"]) for r in rows), default=1.0)
        captions = [caption_context(row, duration, clip_length, low, high) for row in rows]
        return render(
            request,
            "synth_video.html",
            summary=summary,
            duration=duration,
            clip_length=clip_length,
            captions=captions,
            player=viewer.player(vid, duration),
        )

    def prediction_list(request: Request):
        if viewer.predictions is None:
            raise HTTPException(404, "no predictions were given (--predictions, --gt)")
        order = request.query_params.get("order", "r1")
        if order not in ORDERS:
            raise HTTPException(404, f"no order {order!r}")
        return render(
            request,
            "predictions.html",
            predictions=viewer.predictions,
            queries=viewer.predictions.ordered(order),
            order=order,
            orders=ORDERS,
        )

    def prediction_query(request: Request):
        qid = request.path_params["qid"]
        if viewer.predictions is None or qid not in viewer.predictions.queries:
            raise HTTPException(404, f"no query {qid!r} in the predictions")
        query = viewer.predictions.queries[qid]
        return render(request, "query.html", **query_context(viewer, query, with_truth=True))

    async def media(request: Request):
        # The raw path: an encoded separator must not become a separator.
        raw = request.scope.get("raw_path", b"").decode("latin-1").split("?")[0]
        root = request.path_params["root"]
        prefix = f"/media/{root}/"
        path = viewer.media.resolve(root, raw[len(prefix) :]) if raw.startswith(prefix) else None
        if path is None:
            raise HTTPException(404, "no such file")
        return FileResponse(path)

    def frame(request: Request):
        path = viewer.media.path(request.path_params["vid"])
        if path is None:
            raise HTTPException(404)
        try:
            jpeg = thumbnail(path, float(request.path_params["seconds"]))
        except (ValueError, OSError) as error:
            raise HTTPException(404, str(error)) from None
        return Response(jpeg, media_type="image/jpeg")

    routes = [
        Route("/", home),
        Route("/synth", synth_list),
        Route("/synth/{vid}", synth_video),
        Route("/predictions", prediction_list),
        Route("/predictions/{qid}", prediction_query),
        Route("/media/{root}/{path:path}", media),
        Route("/frames/{vid}/{seconds:float}.jpg", frame),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    if viewer.asker is not None:
        routes[-1:-1] = ask_routes(viewer, render, query_context)

    async def error_page(request: Request, error: HTTPException) -> Response:
        response = render(request, "error.html", error=error)
        response.status_code = error.status_code
        return response

    return Starlette(routes=routes, exception_handlers={HTTPException: error_page})


def caption_context(row: dict, duration: float, clip_length: float, low, high) -> dict:
    """The charts of one caption: its similarity curve, window, interval and saliency."""
    interval = [[row["interval_start"], row["interval_end"]]]
    clip_scores = zip(row["relevant_clip_ids"], row["saliency_scores"], strict=True)
    return {
        "row": row,
        "curve": charts.curve(row["clip_similarities"], duration, clip_length, low, high),
        "window": charts.bars(row["relevant_windows"], duration),
        "interval": charts.bars(interval, duration)[0],
        "saliency": [(clip * clip_length, scores[0]) for clip, scores in clip_scores],
    }


def query_context(viewer: Viewer, query, with_truth: bool) -> dict:
    """The charts of one query's page: moments as bars, saliency curves, ground truth."""
    clips = len(query.predicted_saliency)
    clip_length = clip_length_of(query.duration, clips) if clips else CLIP_LENGTH
    annotated = query.annotated_saliency if with_truth else []
    return {
        "query": query,
        "moments": charts.bars(query.moments, query.duration),
        "truth": charts.bars(query.gt_windows, query.duration) if with_truth else [],
        "predicted": charts.curve(query.predicted_saliency, query.duration, clip_length),
        "annotated": charts.curve(annotated, query.duration, CLIP_LENGTH, 0.0, 4.0)
        if annotated
        else None,
        "player": viewer.player(query.vid, query.duration),
    }
