"""The FastAPI app: `uvicorn services.api.app:app`. Configuration comes from services.settings."""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

import redis.asyncio as aioredis
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from services.api.dispatch import Dispatcher, NoAnswerInTime, QueueFull
from services.api.metrics import Metrics
from services.api.page import render_page
from services.api.upload import FIELD_NAME, NotMultipart, UploadRejected, read_upload
from services.images import TooManyPixels, UndecodableImage, check_image
from services.queue import JobError, Prediction
from services.settings import Settings, SettingsError, load_settings


class ClassificationFailed(Exception):
    def __init__(self, status: int, message: str, no_file: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.no_file = no_file  # the request carried no image at all (the page redirects)


SOCKET_MARGIN_S = 5
# Connections beside the queued jobs' waits: requests being queued or turned away at a full
# queue, /ready and /metrics.
CONNECTIONS_BEYOND_QUEUE = 256
NO_FILE = f"no image: send one in the multipart field '{FIELD_NAME}'"
NOT_MULTIPART = f"send the image as multipart/form-data, field '{FIELD_NAME}'"


def create_app(settings: Settings) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # BLPOP holds its connection up to the request timeout: the socket must wait longer
        # (redis-py's default of 5 s would turn slow answers into errors).
        # A restarted Redis leaves dead connections in the pool: retry on a fresh one.
        # Each request waiting for its answer holds a connection (BLPOP): the pool must hold
        # every job the queue accepts, or requests past redis-py's default of 100 would fail
        # long before the queue is full.
        client = aioredis.Redis.from_url(
            settings.redis_url,
            max_connections=settings.queue_max_len + CONNECTIONS_BEYOND_QUEUE,
            socket_timeout=settings.request_timeout_s + SOCKET_MARGIN_S,
            retry=Retry(ExponentialBackoff(cap=1.0), retries=3),
            retry_on_error=[RedisConnectionError],
        )
        app.state.dispatcher = Dispatcher(
            client, settings.queue_max_len, settings.request_timeout_s
        )
        yield
        await client.aclose()

    app = FastAPI(title="inference-loadbench classifier", lifespan=lifespan)

    async def classify(request: Request) -> Prediction:
        """The upload's classification; every stage's time goes to /metrics once answered."""
        started = time.perf_counter()
        try:
            data = await read_upload(request, settings.max_upload_bytes)
        except NotMultipart:
            raise ClassificationFailed(400, NOT_MULTIPART, no_file=True) from None
        except UploadRejected as error:
            no_file = error.status == 400  # a malformed form: no file could be read from it
            raise ClassificationFailed(error.status, error.message, no_file) from None
        if data is None:
            raise ClassificationFailed(400, NO_FILE, no_file=True)
        uploaded = time.perf_counter()
        try:
            check_image(data, settings.max_image_pixels)
        except UndecodableImage as error:
            raise ClassificationFailed(400, str(error)) from None
        except TooManyPixels as error:
            raise ClassificationFailed(413, str(error)) from None
        checked = time.perf_counter()
        dispatcher: Dispatcher = request.app.state.dispatcher
        try:
            answered = await dispatcher.classify(data)
        except QueueFull:
            raise ClassificationFailed(503, "queue is full, retry later") from None
        except NoAnswerInTime:
            raise ClassificationFailed(
                504, f"no answer from a model worker within {settings.request_timeout_s:g} s"
            ) from None
        except RedisError as error:
            raise ClassificationFailed(503, f"queue unavailable ({type(error).__name__})") from None
        stages = {"upload": uploaded - started, "check": checked - uploaded}
        stages["enqueue"] = answered.enqueue_s
        if answered.worker is not None:
            worker = answered.worker
            stages |= {
                "queue_wait": worker.queue_wait,
                "batch_wait": worker.batch_wait,
                "decode": worker.decode,
                "inference": worker.inference,
                "return": answered.returned_s,
            }
        metrics.observe_stages(stages)
        if isinstance(answered.answer, JobError):
            raise ClassificationFailed(answered.answer.status, answered.answer.message)
        return answered.answer

    def observe(route: str, status: int, started: float) -> None:
        metrics.requests.labels(route=route, status=str(status)).inc()
        metrics.latency.labels(route=route).observe(time.perf_counter() - started)

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        started = time.perf_counter()
        try:
            prediction = await classify(request)
        except ClassificationFailed as failure:
            observe("/predict", failure.status, started)
            return JSONResponse(
                {"success": False, "error": failure.message}, status_code=failure.status
            )
        observe("/predict", 200, started)
        return JSONResponse(
            {"success": True, "prediction": prediction.label, "score": prediction.score}
        )

    @app.get("/", response_class=HTMLResponse)
    async def upload_page(message: str | None = None) -> HTMLResponse:
        return HTMLResponse(render_page(message=message))

    @app.post("/", response_model=None)
    async def upload_form(request: Request) -> HTMLResponse | RedirectResponse:
        started = time.perf_counter()
        try:
            prediction = await classify(request)
        except ClassificationFailed as failure:
            observe("/", failure.status, started)
            if failure.no_file:
                return RedirectResponse(f"/?message={quote('Choose an image first.')}", 303)
            return HTMLResponse(render_page(message=failure.message), status_code=failure.status)
        observe("/", 200, started)
        return HTMLResponse(render_page(label=prediction.label, score=prediction.score))

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready(request: Request) -> JSONResponse:
        dispatcher: Dispatcher = request.app.state.dispatcher
        try:
            workers = await dispatcher.live_workers()
        except RedisError as error:
            body = {
                "ready": False,
                "workers": 0,
                "expected": settings.expected_workers,
                "redis": False,
                "error": f"redis unavailable ({type(error).__name__})",
            }
            return JSONResponse(body, status_code=503)
        models = sorted({(w.model, w.runtime, w.device, w.labels_meaningful) for w in workers})
        is_ready = len(workers) >= settings.expected_workers
        body = {
            "ready": is_ready,
            "workers": len(workers),
            "expected": settings.expected_workers,
            "redis": True,
            "models": [
                {"model": m, "runtime": r, "device": d, "labels_meaningful": meaningful}
                for m, r, d, meaningful in models
            ],
            "labels_meaningful": all(w.labels_meaningful for w in workers),
        }
        if not body["labels_meaningful"]:
            body["note"] = "some workers run with random weights: their labels are meaningless"
        return JSONResponse(body, status_code=200 if is_ready else 503)

    @app.get("/metrics")
    async def prometheus_metrics(request: Request) -> Response:
        dispatcher: Dispatcher = request.app.state.dispatcher
        try:
            stats = await dispatcher.stats()
            workers = await dispatcher.live_workers()
        except RedisError as error:
            return JSONResponse(
                {"success": False, "error": f"redis unavailable ({type(error).__name__})"},
                status_code=503,
            )
        return Response(metrics.render(stats, workers), media_type=CONTENT_TYPE_LATEST)

    return app


def _app_from_environment() -> FastAPI:
    try:
        return create_app(load_settings())
    except SettingsError as error:
        print(f"api: {error}", file=sys.stderr)
        raise SystemExit(2) from None


app = _app_from_environment()
