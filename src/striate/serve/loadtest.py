"""A bounded load test of a running service: a fixed number of requests from a fixed number of concurrent clients.

Each client is a thread with one keep-alive connection sending requests one after another; a seeded share of the
requests is malformed (undecodable images, wrong shapes, broken JSON, unsupported media types, too many inputs).
The test stops by itself after `requests` requests and reports throughput, latency percentiles of the valid requests,
every status seen, the requests answered wrongly (a malformed one not answered 4xx, a valid one not 200 or with the
wrong top class), and the server's resident memory before and after when its process id is given.

Used by the test suite (correctness under concurrency) and by `benchmarks/serve.py` (the numbers); `start_server`
and `stop_server` run a server process for both (and for the README's picture of the page).
"""

from __future__ import annotations

import http.client
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np


@dataclass
class Body:
    """One request: its body, content type, and what a correct answer is (`top`: the expected top class of a valid
    request; None for a malformed one, which must get a 4xx)."""

    content: bytes
    content_type: str
    top: str | None = None
    path: str = "/v1/predict"


@dataclass
class LoadResult:
    requests: int
    clients: int
    seconds: float
    latencies_ms: list[float]  # of the valid requests
    statuses: Counter = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)
    malformed: int = 0
    rss_mb: tuple[float, float] | None = None

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def summary(self) -> dict:
        return {"requests": self.requests, "clients": self.clients, "malformed": self.malformed,
                "requests_per_s": round(self.per_second, 1), "p50_ms": round(self.percentile(50), 2),
                "p99_ms": round(self.percentile(99), 2), "statuses": dict(sorted(self.statuses.items())),
                "wrong": len(self.wrong), "rss_mb": self.rss_mb}


def multipart(files: list[tuple[str, bytes]], field_name: str = "files") -> tuple[bytes, str]:
    """A multipart/form-data body holding `files` (name, bytes) in one field, and its content type."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, data in files:
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field_name}\"; filename=\"{name}\"\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def png(array: np.ndarray) -> bytes:
    """A uint8 `(H, W)` or `(H, W, 3)` array as PNG bytes."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def malformed_bodies(shape: tuple[int, ...], max_inputs: int) -> list[Body]:
    """Requests an image service must refuse with a 4xx: one of each kind of mistake."""
    tiny = png(np.zeros((4, 4), dtype=np.uint8))
    wrong = np.zeros((shape[1] + 1, shape[2]), dtype=int).tolist()
    return [
        Body(*multipart([("broken.png", b"\x89PNG\r\n\x1a\n not really")])),
        Body(*multipart([("empty.png", b"")])),
        Body(b"\xff\xd8\xff\xe0 truncated jpeg", "image/jpeg"),
        Body(json.dumps({"inputs": [wrong]}).encode(), "application/json"),
        Body(b'{"inputs": [[1, 2], [3]', "application/json"),
        Body(json.dumps({"inputs": [[[300] * shape[2]] * shape[1]]}).encode(), "application/json"),
        Body(b"just text", "text/plain"),
        Body(json.dumps({"inputs": ["not base64 !"]}).encode(), "application/json"),
        Body(*multipart([(f"{i}.png", tiny) for i in range(max_inputs + 1)])),
        Body(json.dumps({"images": []}).encode(), "application/json"),
    ]


def run_load(url: str, valid: list[Body], malformed: list[Body] | None = None, *, requests: int = 1000,
             clients: int = 4, malformed_share: float = 0.0, seed: int = 0, headers: dict | None = None,
             pid: int | None = None, timeout: float = 30.0) -> LoadResult:
    """Send `requests` requests from `clients` concurrent clients to the service at `url` and check every answer."""
    rng = random.Random(seed)
    plan = [rng.choice(malformed) if malformed and rng.random() < malformed_share else rng.choice(valid)
            for _ in range(requests)]
    parts = urlsplit(url)
    lock = threading.Lock()
    result = LoadResult(requests, clients, 0.0, [], malformed=sum(body.top is None for body in plan))
    queue = iter(plan)

    def client() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        try:
            while True:
                with lock:
                    body = next(queue, None)
                if body is None:
                    return
                start = time.perf_counter()
                try:
                    connection.request("POST", body.path, body.content,
                                       {"Content-Type": body.content_type, **(headers or {})})
                    response = connection.getresponse()
                    answer = response.read()
                    status = response.status
                except (OSError, http.client.HTTPException) as error:
                    connection.close()
                    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
                    status, answer = 0, str(error).encode()
                elapsed = (time.perf_counter() - start) * 1000
                with lock:
                    result.statuses[status] += 1
                    problem = _check(body, status, answer)
                    if problem:
                        result.wrong.append(problem)
                    elif body.top is not None:
                        result.latencies_ms.append(elapsed)
        finally:
            connection.close()

    before = rss_mb(pid) if pid else None
    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - start
    if pid:
        result.rss_mb = (before, rss_mb(pid))
    return result


def _check(body: Body, status: int, answer: bytes) -> str | None:
    """What is wrong with an answer, or None."""
    if body.top is None:
        if not 400 <= status < 500:
            return f"malformed request answered {status}: {answer[:120]!r}"
        try:
            error = json.loads(answer)["error"]
        except (ValueError, KeyError, TypeError):
            return f"refusal without a JSON error: {answer[:120]!r}"
        return None if isinstance(error, str) and "\n" not in error else f"error not one line: {error!r}"
    if status != 200:
        return f"valid request answered {status}: {answer[:120]!r}"
    top = json.loads(answer)["predictions"][0]["top"][0]["label"]
    return None if top == body.top else f"valid request got top class {top!r}, expected {body.top!r}"


def rss_mb(pid: int) -> float:
    """Resident memory of process `pid` in MiB (from /proc; Linux)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(run: str | os.PathLike | None = None, *args: str, argv: list[str] | None = None,
                 timeout: float = 90) -> tuple[subprocess.Popen, str]:
    """`striate serve RUN ARGS` (or the command `argv`, which must take `--port PORT` last) on a free loopback port,
    returned once /healthz answers, with its URL; its output is kept for `stop_server`."""
    port = free_port()
    command = ([*argv, "--port", str(port)] if argv is not None else
               [sys.executable, "-m", "striate", "serve", str(run), "--port", str(port), "--no-access-log", *args])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {process.stdout.read().decode()[-2000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"the server did not answer /healthz within {timeout:g} s")


def stop_server(process: subprocess.Popen, timeout: float = 20) -> str:
    """Ctrl-C to the server; its whole output once it has stopped (killed, with an error, after `timeout` s)."""
    process.send_signal(signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise RuntimeError(f"the server did not stop within {timeout:g} s of Ctrl-C") from None
    return output.decode()
