"""Dynamic batching: the inputs of requests that arrive together go through the engine in one forward pass.

The policy is TorchServe's `max_batch_delay` and Triton's dynamic batcher, with one refinement: the batcher waits up
to `delay` for more requests only while other requests are known to be on their way (counted from the moment a
handler starts reading its body), so a lone request at low load never waits. A request's inputs are never split
between passes; a pass holds at most `max_batch` inputs unless one request alone has more. The engine runs on one
worker thread, off the event loop, so requests keep being read and answered while a pass runs.

Hand-written because neither FastAPI nor uvicorn batches, and the batching servers (TorchServe, Triton) are whole
deployments rather than a library to call.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import torch


class Busy(Exception):
    """More inputs are queued than the server accepts (`max_queue`); the request should be retried later."""


class Batcher:
    """Collects `(N_i, ...)` raw inputs from concurrent requests and runs `forward` on their concatenation.

    Args:
        forward: raw inputs `(N, ...)` -> predictions `(N, K)`; called on the worker thread only.
        max_batch: the most inputs one pass takes (a request with more runs alone).
        delay: seconds to wait for more requests while some are on their way; 0 runs what is queued at once.
        max_queue: the most inputs waiting at once; beyond it `submit` raises `Busy`.
        executor: the single worker thread the engine runs on (shared with explanations).
    """

    def __init__(self, forward: Callable[[torch.Tensor], torch.Tensor], executor: ThreadPoolExecutor, *,
                 max_batch: int = 64, delay: float = 0.002, max_queue: int = 4096):
        self.forward, self.executor = forward, executor
        self.max_batch, self.delay, self.max_queue = max_batch, delay, max_queue
        self.queue: asyncio.Queue[tuple[torch.Tensor, asyncio.Future]] = asyncio.Queue()
        self.queued = 0  # inputs waiting in the queue
        self.arriving = 0  # requests whose handler has started but not yet submitted
        self.passes = 0
        self.batched_inputs = 0
        self._task: asyncio.Task | None = None
        self._carry: tuple[torch.Tensor, asyncio.Future] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.contextmanager
    def arriving_request(self):
        """Marks a request as on its way for as long as its handler reads and checks the body."""
        self.arriving += 1
        try:
            yield
        finally:
            self.arriving -= 1

    async def submit(self, x: torch.Tensor) -> torch.Tensor:
        """The predictions `(N, K)` for `x` `(N, ...)`, computed in a pass shared with other requests."""
        if self.queued + len(x) > self.max_queue:
            raise Busy(f"{self.queued} inputs are already waiting (the most is {self.max_queue})")
        future = asyncio.get_running_loop().create_future()
        self.queued += len(x)
        self.arriving -= 1  # this request is no longer on its way: it is queued (restored by `arriving_request`)
        try:
            await self.queue.put((x, future))
            return await future
        finally:
            self.arriving += 1

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = [self._carry or await self.queue.get()]
            self._carry = None
            rows = len(items[0][0])
            deadline = loop.time() + self.delay
            while rows < self.max_batch:
                try:
                    item = self.queue.get_nowait()
                except asyncio.QueueEmpty:
                    left = deadline - loop.time()
                    if left <= 0 or self.arriving <= 0:  # nobody else is coming: run what there is
                        break
                    try:
                        item = await asyncio.wait_for(self.queue.get(), left)
                    except TimeoutError:
                        break
                if rows + len(item[0]) > self.max_batch:
                    self._carry = item  # it starts the next pass; a request is never split
                    break
                items.append(item)
                rows += len(item[0])
            self.queued -= rows
            await self._run([(x, future) for x, future in items if not future.cancelled()], loop)

    async def _run(self, items: list[tuple[torch.Tensor, asyncio.Future]], loop) -> None:
        if not items:  # every request of this pass gave up (timed out) while waiting
            return
        x = torch.cat([x for x, _ in items]) if len(items) > 1 else items[0][0]
        try:
            predictions = await loop.run_in_executor(self.executor, self.forward, x)
        except Exception as error:  # handed to each waiting request, which answers it; the loop keeps serving
            for _, future in items:
                if not future.done():
                    future.set_exception(error)
            return
        self.passes += 1
        self.batched_inputs += len(x)
        for (part, future), rows in zip(items, torch.split(predictions, [len(x) for x, _ in items]), strict=True):
            if not future.done():
                future.set_result(rows)
            del part
