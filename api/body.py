"""Reading a request body: JSON objects only, each way it can be wrong answered as VALIDATION_ERROR.

The type must be application/json (415); the body may be gzip- or deflate-encoded (other codings: 415),
and the limit (413) applies to it decoded; then it must parse as JSON (400 ``invalid_json`` with the
position) and be an object (400 ``not_an_object``). A client that hangs up mid-body is ClientGone.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from aiohttp import web
from aiohttp.web_exceptions import HTTPRequestEntityTooLarge
from aiohttp.web_protocol import RequestPayloadError

from .errors import TOO_LARGE, UNSUPPORTED_MEDIA_TYPE, ApiError, ClientGone, body_error

MAX_BODY_BYTES = 1024 * 1024
MAX_BODY_KEY = web.AppKey("max_body_bytes", int)
JSON_TYPE = "application/json"
# aiohttp's own decoding is off (app.py): it answered unknown codings with plain text and undecodable
# bodies with a 500; these are decoded here, each failure in the envelope.
ACCEPTED_ENCODINGS = ("gzip", "deflate", "identity")
_ZLIB_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def unsupported_type(request: web.Request) -> ApiError:
    found = request.content_type if request.headers.get("Content-Type") else "none"
    return body_error(
        f"The request must say Content-Type: {JSON_TYPE}, not {found}",
        "unsupported_media_type",
        status=UNSUPPORTED_MEDIA_TYPE,
        contentType=found,
        accepted=[JSON_TYPE],
    )


def _too_large(limit: int) -> ApiError:
    return body_error(f"The request body exceeds {limit} bytes", "too_large", status=TOO_LARGE, limit=limit)


def content_coding(request: web.Request) -> str:
    """The body's one content coding (identity when none), or 415 naming the accepted ones."""
    header = request.headers.get("Content-Encoding", "")
    codings = [c.strip().lower() for c in header.split(",") if c.strip() and c.strip().lower() != "identity"]
    if not codings:
        return "identity"
    if len(codings) == 1 and codings[0] in _ZLIB_WBITS:
        return codings[0]
    raise body_error(
        f"Content-Encoding {header!r} is not accepted; send one of {', '.join(ACCEPTED_ENCODINGS)}",
        "unsupported_content_encoding",
        status=UNSUPPORTED_MEDIA_TYPE,
        headers={"Accept-Encoding": ", ".join(c for c in ACCEPTED_ENCODINGS if c != "identity")},
        contentEncoding=header,
        accepted=list(ACCEPTED_ENCODINGS),
    )


def decode_body(raw: bytes, coding: str, limit: int) -> bytes:
    """The body without its content coding; at most `limit` bytes once decoded (a small gzip can be huge)."""
    if coding == "identity":
        return raw
    wbits = _ZLIB_WBITS[coding]
    if coding == "deflate" and raw[:1] and raw[0] & 0x0F != 8:
        wbits = -zlib.MAX_WBITS  # raw deflate without the zlib header, as many clients send it
    decoder = zlib.decompressobj(wbits)
    try:
        data = decoder.decompress(raw, limit + 1)
    except zlib.error as exc:
        raise body_error(
            f"The request body is not valid {coding}: {exc}", "invalid_content_encoding", contentEncoding=coding
        ) from None
    if len(data) > limit or decoder.unconsumed_tail:
        raise _too_large(limit)
    if not decoder.eof or decoder.unused_data:
        raise body_error(
            f"The request body is not one complete {coding} stream", "invalid_content_encoding", contentEncoding=coding
        )
    return data


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def parse_object(data: bytes) -> dict[str, Any]:
    """The body as a JSON object, or VALIDATION_ERROR saying where it went wrong."""
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        raise body_error(
            f"The request body is not valid JSON: {exc}",
            "invalid_json",
            position=exc.pos,
            line=exc.lineno,
            column=exc.colno,
        ) from None
    except UnicodeDecodeError as exc:
        raise body_error(f"The request body is not UTF-8: {exc}", "invalid_json", position=exc.start) from None
    except RecursionError:
        raise body_error("The request body is nested too deeply", "invalid_json") from None
    if not isinstance(value, dict):
        raise body_error(
            f"The request body must be a JSON object, not {_json_type(value)}", "not_an_object", type=_json_type(value)
        )
    return value


async def read_json(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object, or the documented VALIDATION_ERROR (415, 413 or 400)."""
    if request.content_type != JSON_TYPE:
        raise unsupported_type(request)
    coding = content_coding(request)
    limit = request.app.get(MAX_BODY_KEY, MAX_BODY_BYTES)  # aiohttp enforces it too while reading
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    try:
        raw = await request.read()
    except HTTPRequestEntityTooLarge:  # a chunked body over the limit
        raise _too_large(limit) from None
    except RequestPayloadError as exc:
        raise body_error(f"The request body could not be read: {exc}", "incomplete_body") from None
    except ConnectionResetError:
        raise ClientGone(f"{request.method} {request.path}: the client closed the connection mid-body") from None
    return parse_object(decode_body(raw, coding, limit))
