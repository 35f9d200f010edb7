"""Read the `file` field of a multipart upload, never more than the upload limit."""

from __future__ import annotations

from python_multipart import create_form_parser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import Field, File
from starlette.requests import Request

FIELD_NAME = "file"
# Room for the multipart framing and small form fields around the file itself.
FRAMING_ALLOWANCE = 64 * 1024


class UploadRejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class NotMultipart(Exception):
    """The request carries no multipart form at all (no body, or another content type)."""


def _too_large(max_bytes: int) -> UploadRejected:
    return UploadRejected(413, f"upload is larger than the limit of {max_bytes} bytes")


async def read_upload(request: Request, max_bytes: int) -> bytes | None:
    """The bytes of field `file`, or None when the form has no such field or it is empty.

    Raises NotMultipart when the request is no multipart form. Rejects (413) as soon as the body
    passes the limit, from Content-Length when the client sent one, without reading the rest.
    """
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise NotMultipart
    body_limit = max_bytes + FRAMING_ALLOWANCE
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > body_limit:
        raise _too_large(max_bytes)
    found: list[bytes] = []

    def on_file(upload: File) -> None:
        if upload.field_name == FIELD_NAME.encode():
            upload.file_object.seek(0)
            found.append(upload.file_object.read())

    def on_field(field: Field) -> None:
        if field.field_name == FIELD_NAME.encode() and field.value:
            found.append(field.value)

    try:
        parser = create_form_parser(
            {"Content-Type": content_type.encode()},
            on_field,
            on_file,
            # Keep the file in memory: the limit above bounds it, and no temp file is written.
            config={"MAX_MEMORY_FILE_SIZE": body_limit, "UPLOAD_KEEP_FILENAME": False},
        )
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > body_limit:
                raise _too_large(max_bytes)
            parser.write(chunk)
        parser.finalize()
    except (FormParserError, ValueError) as error:
        raise UploadRejected(400, f"malformed multipart body ({error})") from None
    if not found or not found[0]:
        return None
    if len(found[0]) > max_bytes:
        raise _too_large(max_bytes)
    return found[0]
