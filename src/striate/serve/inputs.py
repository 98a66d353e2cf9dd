"""Request bodies -> the run's raw input batch `(N, *input_shape)`, with every problem a one-line HTTP error.

Accepted bodies, by the run's input kind:

    multipart/form-data   image files (PNG, JPEG, GIF, BMP, WebP) in field `files` (any file field is read)
    image/png, image/...  one image as the whole body
    application/json      {"inputs": [...]}: images as base64 strings (data URLs too) or pixel arrays of the input
                          shape ((C, H, W), or (H, W) for one channel; values 0-255); series as (L,) or (C, L)
                          arrays; sentences as strings
    text/plain            one sentence (text runs)

Nothing a client sends is used as a file path: an uploaded file's name is only echoed back, cleaned, as its source.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
from dataclasses import dataclass

import numpy as np
import torch

from striate.errors import StriateError

IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/webp")
MAX_PIXELS = 40_000_000
"""The most pixels an uploaded image may have (checked from its header, before it is decoded)."""


class Problem(Exception):
    """A request the service refuses: its HTTP status and a one-line message naming what was expected and found."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message.replace("\r", "\\r").replace("\n", "\\n")


@dataclass
class Limits:
    """What one request may hold."""

    max_bytes: int = 10 * 2**20
    max_inputs: int = 64


@dataclass
class Inputs:
    """A request's raw batch `(N, *input_shape)`, a source label and the conversion notes of each input."""

    x: torch.Tensor
    sources: list[str]
    notes: list[list[str]]


def media_types(kind: str) -> tuple[str, ...]:
    """The request media types a run of input kind `kind` accepts."""
    if kind == "image":
        return ("multipart/form-data", *IMAGE_TYPES, "application/json")
    if kind == "tokens":
        return ("application/json", "text/plain")
    return ("application/json",)


async def read_body(request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it (or its declared length) passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, f"Request body too large: expected at most {_size(limit)}, received {_size(int(declared))}; "
                           "send fewer or smaller inputs per request.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"Request body too large: expected at most {_size(limit)}, received more; send fewer "
                               "or smaller inputs per request.")
        chunks.append(chunk)
    return b"".join(chunks)


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n:,} bytes"


async def parse(request, run, limits: Limits) -> Inputs:
    """The raw batch a request carries for `run` (see the module docstring)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    accepted = media_types(run.input_kind)
    if media not in accepted:
        found = f"`{media}`" if media else "no Content-Type"
        raise Problem(415, f"Unsupported media type: this {run.input_kind} model expects one of "
                           f"{', '.join(accepted)}, received {found}.")
    body = await read_body(request, limits.max_bytes)
    if media == "multipart/form-data":
        items = await _multipart(request, body, limits)
    elif media.startswith("image/"):
        items = [("body", _decode_image(body, "in the request body"))]
    elif media == "text/plain":
        items = [("body", _text(body))]
    else:
        items = _json_items(body, run, limits)
    if not items:
        raise Problem(400, f"No inputs: expected at least one {_noun(run.input_kind)} in the request.")
    if len(items) > limits.max_inputs:
        raise Problem(413, f"Too many inputs: expected at most {limits.max_inputs} per request, received "
                           f"{len(items)}; split them over several requests.")
    return _to_batch(items, run)


def _noun(kind: str) -> str:
    return {"image": "image", "tokens": "sentence", "signal": "series"}.get(kind, "input")


async def _multipart(request, body: bytes, limits: Limits) -> list[tuple[str, object]]:
    from starlette.requests import Request

    sent = False

    async def replay():  # the already-read (and size-checked) body, for Starlette's multipart parser
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=limits.max_inputs + 1, max_fields=16,
                                                         max_part_size=limits.max_bytes)
    except Exception as error:  # Starlette's multipart errors (HTTPException, MultiPartException) have no common base
        detail = getattr(error, "detail", None) or getattr(error, "message", None) or str(error) or "unreadable"
        if "files" in str(detail).lower() and "maximum" in str(detail).lower():
            raise Problem(413, f"Too many inputs: expected at most {limits.max_inputs} files per request; split them "
                               "over several requests.") from None
        raise Problem(400, f"Invalid multipart body: expected image files in field `files` ({detail}).") from None
    items = []
    for field, value in form.multi_items():
        if isinstance(value, str):
            continue  # a text field: only files are inputs
        name = _clean(value.filename or field)
        items.append((f"{field}[{len(items)}] {name}".strip(), _decode_image(await value.read(), name)))
    await form.close()
    return items


def _clean(name: str) -> str:
    """A client's file name reduced to a short label: its last path part, printable characters only."""
    name = re.split(r"[\\/]", name)[-1]
    return re.sub(r"[^\w.\- ()]", "_", name)[:80]


def _decode_image(data: bytes, name: str):
    """A decoded PIL image; 400 for anything Pillow cannot read, 413 for too many pixels."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise Problem(400, f"Empty image {name}: expected the bytes of a PNG or JPEG file, received 0 bytes.")
    try:
        image = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise Problem(413, f"Image {name} too large: expected at most {MAX_PIXELS:,} pixels, received "
                               f"{width}x{height}; resize it first.")
        image.load()
    except Problem:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError,
            EOFError) as error:
        reason = "not an image Pillow can identify" if isinstance(error, UnidentifiedImageError) else str(error)
        raise Problem(400, f"Cannot decode image {name}: expected a PNG, JPEG, GIF, BMP or WebP file "
                           f"({reason[:160]}).") from None
    return image


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise Problem(400, f"Invalid text body: expected UTF-8, found byte {body[error.start]:#04x} at position "
                           f"{error.start}.") from None


def _json_items(body: bytes, run, limits: Limits) -> list[tuple[str, object]]:
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise Problem(400, f"Invalid JSON body: expected an object {{\"inputs\": [...]}} ({error}).") from None
    if not isinstance(document, dict) or not isinstance(document.get("inputs"), list):
        found = (f"an object with keys {', '.join(map(str, document))}" if isinstance(document, dict)
                 else f"a JSON {type(document).__name__}")
        raise Problem(400, f"Invalid JSON body: expected an object {{\"inputs\": [...]}} with a list of inputs, "
                           f"found {found}.")
    inputs = document["inputs"]
    if len(inputs) > limits.max_inputs:  # before decoding anything
        raise Problem(413, f"Too many inputs: expected at most {limits.max_inputs} per request, received "
                           f"{len(inputs)}; split them over several requests.")
    kind = run.input_kind
    items = []
    for number, item in enumerate(inputs):
        name = f"inputs[{number}]"
        if kind == "tokens":
            if not isinstance(item, str):
                raise Problem(400, f"Invalid {name}: expected a sentence (a string), received "
                                   f"{_json_type(item)}.")
            items.append((name, item))
        elif kind == "image" and isinstance(item, str):
            items.append((name, _decode_image(_base64(item, name), name)))
        else:
            items.append((name, _array(item, name, run)))
    return items


def _json_type(item) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(item), "a number")


def _base64(text: str, name: str) -> bytes:
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise Problem(400, f"Invalid {name}: expected a base64-encoded PNG or JPEG (or a pixel array), received a "
                           "string that is not base64.") from None


def _array(item, name: str, run) -> np.ndarray:
    """A JSON array as float64 numbers, refused with 400 when ragged, non-numeric or not finite."""
    if not isinstance(item, list):
        raise Problem(400, f"Invalid {name}: expected {_expected(run)}, received {_json_type(item)}.")
    try:
        array = np.asarray(item, dtype=np.float64)
    except (TypeError, ValueError):
        raise Problem(400, f"Invalid {name}: expected {_expected(run)}, received nested lists of unequal lengths "
                           "or values that are not numbers.") from None
    if run.input_kind == "image":
        shape = tuple(run.input_shape)
        if array.shape == shape[1:] and shape[0] == 1:
            array = array[None]
        if array.shape != shape:
            raise Problem(400, f"Invalid {name}: expected {_expected(run)}, received shape {array.shape}.")
        if not np.isfinite(array).all() or array.min() < 0 or array.max() > 255:
            raise Problem(400, f"Invalid {name}: expected pixel values from 0 to 255, received values from "
                               f"{np.nanmin(array):g} to {np.nanmax(array):g}.")
    elif run.input_kind == "signal":
        if array.ndim not in (1, 2) or array.size == 0:
            raise Problem(400, f"Invalid {name}: expected {_expected(run)}, received shape {array.shape}.")
    elif array.shape != tuple(run.input_shape) or not np.isfinite(array).all():
        found = f"shape {array.shape}" if array.shape != tuple(run.input_shape) else "values that are not finite"
        raise Problem(400, f"Invalid {name}: expected {_expected(run)} of finite values, received {found}.")
    return array


def _expected(run) -> str:
    shape = tuple(run.input_shape)
    if run.input_kind == "image":
        plain = f" or {shape[1:]}" if shape[0] == 1 else ""
        return f"a base64 image or a pixel array of shape {shape}{plain}"
    if run.input_kind == "signal":
        return f"a series: an array of shape ({shape[0]}, L)" + (" or (L,)" if shape[0] == 1 else "")
    return f"an array of shape {shape}"


def _to_batch(items: list[tuple[str, object]], run) -> Inputs:
    """The decoded items as one raw batch, through the same conversions as `striate predict`."""
    from PIL import Image

    from striate.export import input_dtype
    from striate.predict import _sentences, _series, image_input

    sources = [name for name, _ in items]
    values = [value for _, value in items]
    try:
        if run.input_kind == "tokens":
            x, _, notes = _sentences(values, run)
        elif run.input_kind == "signal":
            x, _, notes = _series(values, run.input_shape)
        elif run.input_kind == "image":
            arrays, notes = [], []
            for value in values:
                if isinstance(value, Image.Image):
                    array, note = image_input(value, run.input_shape)
                else:
                    array, note = value, []
                arrays.append(np.asarray(array))
                notes.append(note)
            dtype = input_dtype(run.info)
            stacked = np.stack(arrays)
            x = torch.from_numpy(np.rint(stacked).astype(np.uint8) if dtype == torch.uint8
                                 else stacked.astype(np.float32))
        else:
            x = torch.from_numpy(np.stack([np.asarray(v, dtype=np.float32) for v in values]))
            if tuple(x.shape[1:]) != tuple(run.input_shape):
                raise Problem(400, f"Invalid inputs: expected arrays of shape {tuple(run.input_shape)}, received "
                                   f"{tuple(x.shape[1:])}.")
            notes = [[] for _ in values]
    except StriateError as error:
        raise Problem(400, str(error)) from None
    return Inputs(x, sources, notes)
