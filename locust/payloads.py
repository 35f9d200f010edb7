"""The request a load test sends, from the matrix's `request` block, and whether an answer counts.

Plain Python, no Locust: the built-in locustfile sends what `Requests.payload` builds, and the
harness's warm-up (harness/run/warmup.py) sends the same, so the stack meets one kind of request.
Each body is built once per image when the test starts, so the load generator spends its CPU on
sending, not on encoding. A failure's message starts with its kind ("HTTP 503", "not JSON",
"missing keys", "no answer (ConnectionResetError)"), before a colon: the recorder counts the
failures by kind (locust/recorder.py).
"""

import base64
import json
import mimetypes
import random
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")
BOUNDARY = "loadbench-8f3c2a1e"


@dataclass(frozen=True)
class Payload:
    """One image as the stack takes it."""

    name: str
    headers: dict[str, str]
    body: bytes


def read_images(folder: Path) -> dict[str, bytes]:
    """Every image of the folder, read once; a folder without one is an error naming it."""
    images = {
        path.name: path.read_bytes()
        for path in sorted(folder.iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES
    }
    if not images:
        raise ValueError(f"no image ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return images


def _media_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Requests:
    """The matrix's `request` block (defaults filled in by its schema), ready to send."""

    def __init__(self, spec: dict, images: dict[str, bytes]) -> None:
        self.method = spec.get("method", "POST")
        self.path = spec.get("path", "/predict")
        expect = spec.get("expect") or {}
        self.expected_status = expect.get("status", 200)
        self.expected_keys = tuple(expect.get("keys", ()))
        self.payloads = [self._payload(spec, name, data) for name, data in images.items()]
        self.by_name = {payload.name: payload for payload in self.payloads}

    @staticmethod
    def _payload(spec: dict, name: str, data: bytes) -> Payload:
        body = spec.get("body", "multipart")
        if body == "multipart":
            field = spec.get("field", "file")
            head = (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}";'
                f' filename="{name}"\r\nContent-Type: {_media_type(name)}\r\n\r\n'
            )
            content = head.encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()
            kind = f"multipart/form-data; boundary={BOUNDARY}"
        elif body == "raw":
            content, kind = data, spec.get("content_type") or _media_type(name)
        elif body == "json_base64":
            content, kind = json.dumps({spec.get("key", "image"): _b64(data)}).encode(), None
        elif body == "kserve_v2":
            tensor = {
                "name": spec.get("input", "input"),
                "shape": [1],
                "datatype": "BYTES",
                "data": [_b64(data)],
            }
            content, kind = json.dumps({"inputs": [tensor]}).encode(), None
        else:
            raise ValueError(f"request.body: {body!r} is not a body kind")
        return Payload(name, {"Content-Type": kind or "application/json"}, content)

    def pick(self, name: str | None = None) -> Payload:
        """The image named (KeyError naming it where the folder has none), else any."""
        if name is None:
            return random.choice(self.payloads)
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(f"no image {name!r} in the run's image folder") from None

    def problem(self, status: int, body: bytes, error: BaseException | None = None) -> str | None:
        """Why an answer is not a success ("<kind>: <detail>"), or None when it is one."""
        if status == 0:  # no answer at all: `error` says why
            return f"no answer ({type(error).__name__ if error else 'connection failed'}): {error}"
        if status != self.expected_status:
            return f"HTTP {status}: {body[:200].decode(errors='replace')}"
        if not self.expected_keys:
            return None
        try:
            answer = json.loads(body)
        except ValueError:
            return f"not JSON: {body[:200].decode(errors='replace')}"
        if not isinstance(answer, dict):
            return f"not a JSON object: {body[:200].decode(errors='replace')}"
        missing = [key for key in self.expected_keys if key not in answer]
        if missing:
            return f"missing keys: {', '.join(missing)} in {body[:200].decode(errors='replace')}"
        return None
