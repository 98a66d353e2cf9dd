"""The HTTP service of one run: FastAPI routes, dynamic batching, API-key checks, and one-line JSON errors.

    GET  /             the web page (choose, drop or draw an image; top-5 bars; the Grad-CAM overlay)
    POST /v1/predict   inputs (see `striate.serve.inputs`) -> the task's predictions
    POST /v1/explain   inputs -> Grad-CAM heatmaps, as a PNG (one input) or in JSON
    GET  /v1/model     what the run is: architecture, input format, classes, test metrics, engine, limits
    GET  /v1/stats     requests, errors, forward passes and inputs per pass since the start
    GET  /healthz      liveness, never behind the API key
    GET  /docs         the OpenAPI page (`/openapi.json` the schema)

Every refused request gets `{"error": "<one line>"}` with its status (400 unreadable input, 401 missing key, 413 too
large or too many inputs, 415 unsupported media type, 422 bad query parameter, 503 busy or over the time limit);
an unexpected failure is a 500 with a one-line message and no traceback, and the service keeps serving.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import io
import ipaddress
import json
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from http.cookies import SimpleCookie
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import torch
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from striate.errors import ConfigError, StriateError
from striate.serve.batching import Batcher, Busy
from striate.serve.inputs import IMAGE_TYPES, Limits, Problem, media_types, parse

log = logging.getLogger("striate.serve")
API_KEY_ENV = "STRIATE_API_KEY"
SETTINGS_ENV = "STRIATE_SERVE_SETTINGS"
COOKIE = "striate_api_key"


@dataclass
class Settings:
    """How a service runs; every field has a `striate serve` option of the same name."""

    run: str
    engine: str = "auto"
    max_batch: int = 64
    batch_delay_ms: float = 2.0
    max_inputs: int = 64
    max_upload_mb: float = 10.0
    timeout_s: float = 10.0
    api_key: str | None = None
    threads: int | None = None

    def check(self) -> Settings:
        for name in ("max_batch", "max_inputs"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"Invalid `{_option(name)}`: expected a positive integer, received "
                                  f"{getattr(self, name)!r}.")
        for name in ("batch_delay_ms", "max_upload_mb", "timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0 or (value == 0 and name != "batch_delay_ms"):
                least = "0 or more" if name == "batch_delay_ms" else "a positive number"
                raise ConfigError(f"Invalid `{_option(name)}`: expected {least}, received {value!r}.")
        if self.api_key is not None and len(self.api_key) < 16:
            raise ConfigError(f"Invalid API key: expected at least 16 characters, received {len(self.api_key)}; "
                              "generate one with `python -c 'import secrets; print(secrets.token_urlsafe())'`.")
        from striate.export import ENGINES

        if self.engine not in ENGINES:
            raise ConfigError(f"Unknown engine {self.engine!r}: expected one of {', '.join(ENGINES)}.")
        return self


def _option(name: str) -> str:
    """The `striate serve` option of a `Settings` field."""
    return "--timeout" if name == "timeout_s" else f"--{name.replace('_', '-')}"


# --- the model behind the routes ------------------------------------------------------------------------------------


class Service:
    """One run loaded once per worker process: its engine, the batcher in front of it, and counters."""

    def __init__(self, settings: Settings):
        from striate.export import random_inputs
        from striate.runs import load

        if settings.threads:
            torch.set_num_threads(settings.threads)
        self.settings = settings
        self.run = load(settings.run, engine=settings.engine)
        self.engine = self.run.engine
        self.limits = Limits(int(settings.max_upload_mb * 2**20), settings.max_inputs)
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="striate-inference")
        self.batcher = Batcher(self.engine.predict_proba, self.executor, max_batch=settings.max_batch,
                               delay=settings.batch_delay_ms / 1000)
        self.engine.predict_proba(random_inputs(self.run, 1))  # the engine's one-off check against PyTorch, now
        self.explain_problem = self._explain_problem(random_inputs(self.run, 1))
        self.started = time.time()
        self.counts = {"requests": 0, "refused": 0, "failed": 0, "inputs": 0}

    def _explain_problem(self, x: torch.Tensor) -> str | None:
        """Why Grad-CAM cannot explain this model (None when it can), found on one random input."""
        from striate.explain import explain

        try:
            explain(self.run, x, "gradcam")
        except StriateError as error:
            return str(error)
        return None

    def describe(self) -> dict[str, Any]:
        run = self.run
        from striate.export import input_dtype

        metrics = {key.removeprefix("test_"): value for key, value in run.results.items()
                   if key.startswith("test_") and isinstance(value, int | float) and not isinstance(value, bool)}
        return {
            "run": run.path.resolve().name,
            "architecture": run.info["architecture"]["name"],
            "parameters": sum(p.numel() for p in run.model.parameters()),
            "task": run.task.describe(),
            "input": {"kind": run.input_kind, "shape": list(run.input_shape),
                      "dtype": str(input_dtype(run.info)).removeprefix("torch."),
                      "media_types": list(media_types(run.input_kind))},
            "classes": run.classes,
            "metrics": metrics,
            "engine": self.engine.name,
            "engine_notes": run.engine_notes,
            "explain": {"available": self.explain_problem is None, "method": "gradcam",
                        "problem": self.explain_problem},
            "limits": {"max_inputs": self.limits.max_inputs, "max_upload_bytes": self.limits.max_bytes,
                       "timeout_s": self.settings.timeout_s},
            "batching": {"max_batch": self.settings.max_batch, "batch_delay_ms": self.settings.batch_delay_ms},
        }

    def prediction(self, row: torch.Tensor, top_k: int, source: str, notes: list[str]) -> dict[str, Any]:
        found = self.run.task.format_prediction(row, top_k)
        if "top" in found:
            found["top"] = [{"label": label, "probability": p} for label, p in found["top"]]
        return {"source": source, "notes": notes, **found}

    def explain(self, x: torch.Tensor, target: str | None):
        from striate.explain import explain

        return explain(self.run, x, "gradcam", target)


# --- request and response schemas (for /docs and the generated tests; responses are written directly) ---------------


class ErrorBody(BaseModel):
    error: str = Field(description="what was expected, what was received, and how to fix it, in one line")


class Scored(BaseModel):
    label: str
    probability: float


class Prediction(BaseModel):
    source: str = Field(description="which input: files[i] NAME, inputs[i] or body")
    notes: list[str] = Field(description="conversions applied: resizing, colour, padding, unknown words")
    top: list[Scored] | None = Field(None, description="classification: the top-k classes, most probable first")
    labels: list[str] | None = Field(None, description="multi-label: the labels above the threshold")
    scores: dict[str, float] | None = Field(None, description="multi-label: every label's probability")
    values: dict[str, float] | None = Field(None, description="regression: each target's value")


class Predictions(BaseModel):
    run: str
    engine: str
    predictions: list[Prediction]


class Heatmap(BaseModel):
    source: str
    target: str = Field(description="the class the map explains")
    probability: float = Field(description="the model's probability (or score) for that class")
    layer: str | None = Field(description="the layer Grad-CAM read")
    heatmap: list = Field(description="Grad-CAM values scaled to [0, 1], at the input's resolution")
    png: str | None = Field(None, description="image models: the heatmap as a base64 PNG")


class Explanations(BaseModel):
    run: str
    explanations: list[Heatmap]


def _request_body(kind: str, shape: list[int], max_inputs: int) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if kind == "image":
        content["multipart/form-data"] = {"schema": {
            "type": "object", "required": ["files"],
            "properties": {"files": {"type": "array", "maxItems": max_inputs,
                                     "items": {"type": "string", "format": "binary"}}}}}
        for media in IMAGE_TYPES:
            content[media] = {"schema": {"type": "string", "format": "binary"}}
        item = {"anyOf": [{"type": "string", "description": "a base64-encoded image (a data URL too)"},
                          {"type": "array", "description": f"pixel values 0-255 of shape {shape}"}]}
    elif kind == "tokens":
        item = {"type": "string", "description": "a sentence"}
    elif kind == "signal":
        item = {"type": "array", "description": f"a series: (L,) or (C, L) values, C = {shape[0]}"}
    else:
        item = {"type": "array", "description": f"an array of shape {shape}"}
    content["application/json"] = {"schema": {
        "type": "object", "required": ["inputs"],
        "properties": {"inputs": {"type": "array", "minItems": 1, "maxItems": max_inputs, "items": item}}}}
    if kind == "tokens":
        content["text/plain"] = {"schema": {"type": "string"}}
    return {"requestBody": {"required": True, "content": content}}


ERRORS = {status: {"model": ErrorBody, "description": text} for status, text in (
    (400, "unreadable input: an undecodable image, a wrong array shape, malformed JSON"),
    (401, "a missing or wrong API key (only when the service requires one)"),
    (413, "a body over the size limit, or more inputs than allowed"),
    (415, "a media type the model does not take"),
    (422, "an invalid query parameter"),
    (503, "the service is busy or the request took longer than its time limit"))}


# --- the app --------------------------------------------------------------------------------------------------------


def create_app(settings: Settings, service: Service | None = None) -> FastAPI:
    """The FastAPI app serving `settings.run`; the run is loaded when the app starts (once per worker process),
    or `service` is used as given."""
    settings.check()
    service = service or Service(settings)
    run = service.run
    kind, shape = run.input_kind, list(run.input_shape)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        service.batcher.start()
        yield
        await service.batcher.stop()
        service.executor.shutdown(wait=False)

    app = FastAPI(title=f"striate: {run.info['architecture']['name']} ({run.path.resolve().name})",
                  description=f"Predictions and Grad-CAM explanations of a striate run: a {kind} model with "
                              f"{len(run.classes)} outputs. Errors are `{{\"error\": \"...\"}}`.",
                  version="1", lifespan=lifespan)
    body = _request_body(kind, shape, settings.max_inputs)
    _errors(app, service)
    app.add_middleware(Count, service=service)
    if settings.api_key:
        app.add_middleware(RequireKey, key=settings.api_key)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @app.get("/healthz", responses={200: {"description": "the service is up"}})
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/v1/model", responses={200: {"description": "the run"}, 401: ERRORS[401]})
    async def model() -> JSONResponse:
        return JSONResponse(service.describe())

    @app.get("/v1/stats", responses={200: {"description": "counts since the start"}, 401: ERRORS[401]})
    async def stats() -> JSONResponse:
        batcher = service.batcher
        return JSONResponse({**service.counts, "passes": batcher.passes, "seconds": time.time() - service.started,
                             "inputs_per_pass": batcher.batched_inputs / batcher.passes if batcher.passes else 0.0})

    @app.post("/v1/predict", responses={200: {"model": Predictions}, **ERRORS}, openapi_extra=body)
    async def predict(request: Request, top_k: int = Query(5, ge=1, le=1000, description="classes to return")):
        with service.batcher.arriving_request():
            inputs = await parse(request, service.run, service.limits)
            try:
                rows = await asyncio.wait_for(service.batcher.submit(inputs.x), service.settings.timeout_s)
            except TimeoutError:
                raise Problem(503, f"Prediction took longer than the time limit of {service.settings.timeout_s:g} s; "
                                   "retry, or send fewer inputs per request.") from None
            except Busy as error:
                raise Problem(503, f"The service is busy: {error}; retry shortly.") from None
        service.counts["inputs"] += len(rows)
        predictions = [service.prediction(row, top_k, source, notes)
                       for row, source, notes in zip(rows, inputs.sources, inputs.notes, strict=True)]
        return JSONResponse({"run": service.run.path.resolve().name, "engine": service.engine.name,
                             "predictions": predictions})

    @app.post("/v1/explain", responses={200: {"model": Explanations, "content": {"image/png": {}}}, **ERRORS},
              openapi_extra=body)
    async def explain(request: Request,
                      format: str = Query("png", pattern="^(png|json)$", description="png (one input) or json"),
                      target: str | None = Query(None, max_length=200,
                                                 description="class name or index (default: the predicted class)")):
        if service.explain_problem is not None:
            raise Problem(400, f"Grad-CAM cannot explain this model: {service.explain_problem}")
        inputs = await parse(request, service.run, service.limits)
        if format == "png" and (service.run.input_kind != "image" or len(inputs.x) != 1):
            kind = service.run.input_kind
            found = f"{len(inputs.x)} inputs" if kind == "image" else f"a {kind} model"
            raise Problem(400, f"A PNG heatmap is drawn for one image: expected one image, received {found}; ask "
                               "with format=json instead.")
        loop = asyncio.get_running_loop()
        try:
            found = await asyncio.wait_for(loop.run_in_executor(service.executor, service.explain, inputs.x,
                                                                _target(target)), service.settings.timeout_s)
        except TimeoutError:
            raise Problem(503, f"The explanation took longer than the time limit of {service.settings.timeout_s:g} "
                               "s; retry, or send fewer inputs per request.") from None
        except StriateError as error:
            raise Problem(400, str(error)) from None
        maps = _scaled(found.attributions)
        if format == "png":
            return Response(_png(maps[0]), media_type="image/png",
                            headers={"X-Target": _header(service.run.classes[int(found.targets[0])]),
                                     "X-Layer": _header(found.layer or "")})
        explanations = []
        for index, source in enumerate(inputs.sources):
            cls = int(found.targets[index])
            heat = maps[index]
            explanations.append({
                "source": source, "target": service.run.classes[cls],
                "probability": float(found.outputs[index, cls]), "layer": found.layer,
                "heatmap": np.round(heat.squeeze(0).numpy() if heat.dim() > 1 else heat.numpy(), 4).tolist(),
                "png": base64.b64encode(_png(heat)).decode() if service.run.input_kind == "image" else None})
        return JSONResponse({"run": service.run.path.resolve().name, "explanations": explanations})

    return app


def _target(target: str | None) -> int | str | None:
    return int(target) if target is not None and target.strip().isdigit() else target


def _header(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode("ascii")


def _scaled(maps: torch.Tensor) -> torch.Tensor:
    """Each map divided by its maximum, into [0, 1] (Grad-CAM maps are non-negative; an all-zero map stays 0)."""
    flat = maps.reshape(len(maps), -1).clamp_min(0)
    peak = flat.max(dim=1, keepdim=True).values.clamp_min(1e-12)
    return (flat / peak).reshape(maps.shape)


def _png(heat: torch.Tensor) -> bytes:
    """A `(1, H, W)` map in [0, 1] as an opaque colour PNG (matplotlib's `jet`) at the input's resolution."""
    from matplotlib import colormaps
    from PIL import Image

    rgba = colormaps["jet"](heat.reshape(heat.shape[-2:]).numpy())  # (H, W, 4) floats
    buffer = io.BytesIO()
    Image.fromarray((rgba[..., :3] * 255).round().astype(np.uint8), mode="RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def _errors(app: FastAPI, service: Service) -> None:
    """Every refusal as `{"error": ...}`; counted, and never a traceback."""

    def counted(status: int, message: str) -> JSONResponse:
        service.counts["refused" if status < 500 else "failed"] += 1
        return JSONResponse({"error": message}, status_code=status)

    @app.exception_handler(Problem)
    async def problem(request: Request, error: Problem) -> JSONResponse:
        return counted(error.status, error.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()) if part != "query")
        return counted(422, f"Invalid query parameter `{where}`: {first.get('msg', 'invalid')}, received "
                            f"{str(first.get('input'))[:80]!r}.")

    @app.exception_handler(StarletteHTTPException)
    async def http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 404:
            message = f"No such endpoint {request.url.path[:100]}: expected one of /, /v1/predict, /v1/explain, " \
                      "/v1/model, /v1/stats, /healthz, /docs."
        elif error.status_code == 405:
            message = f"Method {request.method} not allowed on {request.url.path[:100]}: see /docs for each " \
                      "endpoint's method."
        else:
            message = str(error.detail)
        return counted(error.status_code, message)

    @app.exception_handler(Exception)
    async def failed(request: Request, error: Exception) -> JSONResponse:
        log.exception("request %s %s failed", request.method, request.url.path)
        return counted(500, f"Internal error while answering {request.url.path[:100]} ({type(error).__name__}); "
                            "the service keeps serving, and the server log has the details.")



class Count:
    """ASGI middleware counting the service's HTTP requests (plain ASGI: no per-request task, unlike
    `@app.middleware`)."""

    def __init__(self, app, service: Service):
        self.app, self.service = app, service

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.service.counts["requests"] += 1
        return await self.app(scope, receive, send)


class RequireKey:
    """ASGI middleware: every request except `/healthz` needs the API key, as `Authorization: Bearer KEY`, an
    `X-API-Key` header, or the cookie a browser gets by opening `/?api_key=KEY` once (then redirected to `/`)."""

    def __init__(self, app, key: str):
        self.app, self.key = app, key.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] == "/healthz" or self._allowed(scope):
            return await self.app(scope, receive, send)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        given = (query.get("api_key") or [""])[0].encode()
        if scope["path"] == "/" and scope["method"] == "GET" and given and hmac.compare_digest(given, self.key):
            cookie = SimpleCookie()
            cookie[COOKIE] = given.decode()
            cookie[COOKIE].update({"httponly": True, "samesite": "Strict", "path": "/"})
            headers = [(b"location", b"/"), (b"set-cookie", cookie[COOKIE].OutputString().encode())]
            return await _send(send, 303, b"", headers)
        body = json.dumps({"error": "Missing or wrong API key: expected `Authorization: Bearer KEY` or `X-API-Key: "
                                    "KEY` (browsers: open /?api_key=KEY once); the key is the one the server was "
                                    f"started with (--api-key or {API_KEY_ENV})."}).encode()
        return await _send(send, 401, body, [(b"content-type", b"application/json"),
                                             (b"www-authenticate", b"Bearer")])

    def _allowed(self, scope) -> bool:
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"x-api-key", b"")
        authorization = headers.get(b"authorization", b"")
        if authorization[:7].lower() == b"bearer ":
            given = authorization[7:].strip()
        if not given and b"cookie" in headers:
            cookie = SimpleCookie()
            try:
                cookie.load(headers[b"cookie"].decode("latin-1"))
            except Exception:  # a malformed cookie header is simply no key
                return False
            given = cookie[COOKIE].value.encode() if COOKIE in cookie else b""
        return bool(given) and hmac.compare_digest(given, self.key)


async def _send(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


PAGE = resources.files("striate.serve").joinpath("page.html").read_text(encoding="utf-8")


# --- starting a server ----------------------------------------------------------------------------------------------


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def app_from_environment() -> FastAPI:
    """The app factory each uvicorn worker process calls (`--workers N`): settings come from the environment."""
    return create_app(Settings(**json.loads(os.environ[SETTINGS_ENV])))


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          access_log: bool = True) -> None:
    """Run the service with uvicorn until interrupted. A non-loopback `host` needs an API key."""
    import uvicorn

    settings.api_key = settings.api_key or os.environ.get(API_KEY_ENV) or None
    settings.check()
    check_port(host, port)
    if not is_loopback(host) and not settings.api_key:
        raise ConfigError(f"Refusing to serve on {host} without an API key: expected --api-key KEY or the "
                          f"environment variable {API_KEY_ENV} (or bind to 127.0.0.1).")
    if workers < 1:
        raise ConfigError(f"Invalid `--workers`: expected a positive integer, received {workers}.")
    if workers > 1 and settings.engine != "torch":  # export once here, not in every worker at the same time
        from striate.runs import load

        _ = load(settings.run, engine=settings.engine).engine
    if workers > 1 and not settings.threads:
        settings.threads = max(1, (os.cpu_count() or 1) // workers)
    options = {"host": host, "port": port, "access_log": access_log, "log_level": "info",
               "timeout_graceful_shutdown": 5}
    where = f"[{host}]" if ":" in host else host
    announce = (f"Serving {settings.run} at http://{where}:{port}/ (web page), /v1/predict, /v1/explain, /docs; "
                "Ctrl-C stops.")
    if workers == 1:
        app = create_app(settings)
        print(announce, file=sys.stderr, flush=True)
        uvicorn.run(app, **options)
    else:
        os.environ[SETTINGS_ENV] = json.dumps(asdict(settings))
        print(announce, file=sys.stderr, flush=True)
        uvicorn.run("striate.serve.app:app_from_environment", factory=True, workers=workers, **options)


def check_port(host: str, port: int) -> None:
    """A one-line error when `host:port` cannot be bound (in use, or not an address of this machine)."""
    import socket

    if not 0 <= port <= 65535:
        raise ConfigError(f"Invalid `--port`: expected 0 to 65535, received {port}.")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ConfigError(f"Invalid `--host` {host!r}: expected an address of this machine ({error.strerror}).") \
            from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise ConfigError(f"Cannot serve on {host}:{port}: {error.strerror}; choose another --port, or stop what "
                              "uses it.") from None
