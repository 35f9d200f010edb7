"""The stack as a client sees it: real redis-server, API under uvicorn, one real worker."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from image_kinds import CAT_CLASSES, SVG, TEXT, decompression_bomb, truncated, valid_images
from stack_processes import LocalStack

UPLOAD_LIMIT = 1024 * 1024


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[LocalStack]:
    local = LocalStack(
        tmp_path_factory.mktemp("stack"),
        model_cache_dir,
        {"MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT), "EXPECTED_WORKERS": "1"},
    )
    try:
        local.start_worker("svc-w1")
        local.wait_for_workers(1)
        yield local
    finally:
        local.close()


def predict(stack: LocalStack, data: bytes, filename: str = "upload") -> tuple[int, dict]:
    response = stack.http.post("/predict", files={"file": (filename, data)})
    return response.status_code, response.json()


def assert_still_serves(stack: LocalStack, sample_images) -> None:
    status, body = predict(stack, sample_images["coffee"])
    assert status == 200, body
    assert body["prediction"] == "espresso"


def test_health_and_ready(stack: LocalStack) -> None:
    assert stack.http.get("/health").json() == {"status": "ok"}
    ready = stack.http.get("/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["ready"] is True and body["workers"] == 1 and body["expected"] == 1
    assert body["models"] == [
        {
            "model": "efficientnet-lite0",
            "runtime": "onnxruntime",
            "device": "cpu",
            "labels_meaningful": True,
        }
    ]


@pytest.mark.parametrize(
    "kind", ["jpeg", "png-alpha", "grayscale-jpeg", "cmyk-jpeg", "png-16bit", "gif", "webp"]
)
def test_every_kind_of_image_is_classified(stack: LocalStack, sample_images, kind: str) -> None:
    status, body = predict(stack, valid_images(sample_images["cat"])[kind])
    assert status == 200, body
    assert set(body) == {"success", "prediction", "score"}
    assert body["success"] is True
    assert isinstance(body["prediction"], str) and body["prediction"]
    assert 0 <= body["score"] <= 1


def test_the_sample_photos_get_their_classes(stack: LocalStack, sample_images) -> None:
    assert predict(stack, sample_images["cat"])[1]["prediction"] in CAT_CLASSES
    assert predict(stack, sample_images["coffee"])[1]["prediction"] == "espresso"


BAD_INPUTS = {
    "empty file": (b"", 400),
    "text": (TEXT, 400),
    "svg": (SVG, 400),
    "decompression bomb": (decompression_bomb(), 413),
    "over the upload limit": (b"\xff\xd8\xff" + bytes(UPLOAD_LIMIT), 413),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gets_its_code_and_harms_nothing(
    stack: LocalStack, sample_images, name: str
) -> None:
    data, expected = BAD_INPUTS[name]
    status, body = predict(stack, data)
    assert status == expected, body
    assert body["success"] is False and body["error"]
    assert_still_serves(stack, sample_images)


def test_truncated_jpeg_is_refused_by_the_worker_with_400(stack: LocalStack, sample_images) -> None:
    status, body = predict(stack, truncated(sample_images["hubble"]))
    assert (status, body["success"]) == (400, False), body
    assert "truncated" in body["error"]
    assert_still_serves(stack, sample_images)


@pytest.mark.parametrize(
    ("request_options", "message"),
    [
        ({}, "multipart/form-data"),
        ({"files": {"picture": ("cat.jpg", b"...")}}, "field 'file'"),
        ({"content": b"--x\r\nbroken", "headers": {"content-type": "multipart/form-data"}}, ""),
    ],
    ids=["no body", "wrong field", "malformed multipart"],
)
def test_requests_without_a_file_get_400(
    stack: LocalStack, sample_images, request_options: dict, message: str
) -> None:
    response = stack.http.post("/predict", **request_options)
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert message in response.json()["error"]
    assert_still_serves(stack, sample_images)


def raw_request(stack: LocalStack, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send a request by hand and read the answer without sending anything more."""
    with socket.create_connection(("127.0.0.1", stack.api_port), timeout=10) as connection:
        connection.sendall(head)
        for part in body_parts:
            connection.sendall(part)
        return connection.recv(65536)


def test_a_declared_oversize_body_is_refused_before_it_is_sent(stack: LocalStack) -> None:
    head = (
        b"POST /predict HTTP/1.1\r\nHost: test\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\n"
        b"Content-Length: 52428800\r\n\r\n"
    )
    # Not one byte of the 50 MiB follows: the answer must come all the same.
    assert raw_request(stack, head, []).startswith(b"HTTP/1.1 413")


def test_a_chunked_upload_is_cut_at_the_limit(stack: LocalStack) -> None:
    head = (
        b"POST /predict HTTP/1.1\r\nHost: test\r\n"
        b"Content-Type: multipart/form-data; boundary=b\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    opening = b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.jpg"\r\n\r\n'
    chunk = bytes(256 * 1024)
    parts = [b"%x\r\n%s\r\n" % (len(opening), opening)]
    # Past the limit, then silence: the server must answer without waiting for the rest.
    parts += [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (UPLOAD_LIMIT // len(chunk) + 2)
    assert raw_request(stack, head, parts).startswith(b"HTTP/1.1 413")


def test_upload_page_classifies_and_redirects_when_no_file(
    stack: LocalStack, sample_images
) -> None:
    page = stack.http.get("/")
    assert page.status_code == 200
    assert 'enctype="multipart/form-data"' in page.text and 'name="file"' in page.text
    answer = stack.http.post("/", files={"file": ("cat.jpg", sample_images["cat"], "image/jpeg")})
    assert answer.status_code == 200
    assert any(label in answer.text for label in CAT_CLASSES)
    refused = stack.http.post("/", files={"file": ("notes.txt", TEXT, "text/plain")})
    assert refused.status_code == 400
    assert "not a decodable image" in refused.text


@pytest.mark.parametrize(
    "request_options",
    [
        {},
        {"content": b"just text", "headers": {"content-type": "text/plain"}},
        {"content": b"--x--\r\n", "headers": {"content-type": "multipart/form-data; boundary=x"}},
        {"files": {"other": ("x", b"")}},
        {"files": {"file": ("empty.jpg", b"")}},
    ],
    ids=["no body", "not multipart", "empty multipart form", "no file field", "empty file"],
)
def test_the_upload_page_sends_a_post_without_a_file_back_to_the_form(
    stack: LocalStack, request_options: dict
) -> None:
    redirect = stack.http.post("/", **request_options)
    assert redirect.status_code == 303
    assert redirect.headers["location"] == "/?message=Choose%20an%20image%20first."
    message_page = stack.http.get(redirect.headers["location"])
    assert "Choose an image first." in message_page.text


def test_metrics_show_requests_queue_batches_and_each_workers_jobs(
    stack: LocalStack, sample_images
) -> None:
    assert_still_serves(stack, sample_images)
    assert predict(stack, TEXT)[0] == 400  # this test's own refused request
    text = stack.http.get("/metrics").text
    assert 'api_requests_total{route="/predict",status="200"}' in text
    assert 'api_requests_total{route="/predict",status="400"}' in text
    assert 'api_request_latency_seconds_bucket{le="0.5",route="/predict"}' in text
    assert "queue_depth 0.0" in text
    assert "model_workers_live 1.0" in text
    assert "model_batch_size_count" in text
    jobs_line = next(
        line for line in text.splitlines() if line.startswith("model_worker_jobs_total{")
    )
    assert jobs_line.startswith('model_worker_jobs_total{worker="svc-w1"}')
    assert float(jobs_line.split()[-1]) >= 1


def test_the_stages_of_a_request_reach_metrics_in_order(stack: LocalStack, sample_images) -> None:
    before = stage_counts(stack)
    assert_still_serves(stack, sample_images)
    after = stage_counts(stack)
    assert list(after) == [
        "upload",
        "check",
        "enqueue",
        "queue_wait",
        "batch_wait",
        "decode",
        "inference",
        "return",
    ]
    assert all(after[stage] == before.get(stage, 0) + 1 for stage in after), (before, after)


def stage_counts(stack: LocalStack) -> dict[str, float]:
    counts = {}
    for line in stack.http.get("/metrics").text.splitlines():
        if line.startswith("request_stage_seconds_count{"):
            stage = line.split('stage="', 1)[1].split('"', 1)[0]
            counts[stage] = float(line.split()[-1])
    return counts


def test_nothing_is_left_in_redis_but_expiring_keys(stack: LocalStack, sample_images) -> None:
    assert_still_serves(stack, sample_images)
    assert stack.redis.xlen("loadbench:jobs") == 0
    # What stays without a TTL: the stream itself and the per-batch-size tally; every answer,
    # heartbeat and job counter expires.
    lasting = {b"loadbench:jobs", b"loadbench:batch-sizes"}
    keys = list(stack.redis.scan_iter(match="loadbench:*"))
    assert keys, "the stack keeps its keys under loadbench:"
    for key in keys:
        assert key in lasting or stack.redis.ttl(key) > 0, key
