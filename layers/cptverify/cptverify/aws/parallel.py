"""Independent AWS calls made at once from a small thread pool (boto3 clients are thread-safe).

`CPTVERIFY_AWS_THREADS` bounds the pool (default 8). The in-process moto stack of the tests and
the local commands sets it to 1, because moto's in-memory backends are not thread-safe: every
call then runs in the calling thread, one after another, in the order given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from cptverify.aws.settings import settings

# Limitation: the tests run the pool only on plain functions; the exchange's AWS calls run
# at once only against a real endpoint (deployed, or the cold-start bench's moto server).

T = TypeVar("T")
R = TypeVar("R")


def _traced(fn: Callable[[], R]) -> Callable[[], R]:
    """Run `fn` in a worker under the caller's X-Ray segment, so its AWS calls are traced."""
    from cptverify.observability import tracer

    if tracer.disabled:
        return fn
    from aws_xray_sdk.core import xray_recorder

    entity = xray_recorder.get_trace_entity()

    def run() -> R:
        xray_recorder.set_trace_entity(entity)
        try:
            return fn()
        finally:
            xray_recorder.clear_trace_entities()

    return run


class Started:
    """Calls started at once; `result(i)` waits for the i-th and returns it or raises its error.

    `add` starts one more while the caller goes on (e.g. making the next client: only the
    calling thread makes clients, a boto3 session is not thread-safe). With one thread each
    call runs when it is given, in the calling thread.
    """

    def __init__(self, calls: list[Callable[[], Any]], *, workers: int = 4) -> None:
        self._futures: list[Any] = []
        self._done: list[tuple[bool, Any]] = []
        self._pool: Any = None
        if settings().aws_threads > 1:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=min(workers, settings().aws_threads))
        for call in calls:
            self.add(call)

    def add(self, call: Callable[[], Any]) -> int:
        """Start `call`; its index for `result`."""
        if self._pool is not None:
            self._futures.append(self._pool.submit(_traced(call)))
            return len(self._futures) - 1
        try:
            self._done.append((True, call()))
        except Exception as exc:  # kept for `result`, like a future's error
            self._done.append((False, exc))
        return len(self._done) - 1

    def result(self, index: int) -> Any:
        if self._pool is not None:
            # The pool's idle workers end when this object is dropped (the executor's own
            # clean-up), so a step leaves no threads behind.
            return self._futures[index].result()
        ok, value = self._done[index]
        if not ok:
            raise value
        return value


def bounded_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int | None = None
) -> Iterator[R]:
    """`fn` over `items` on at most `workers` threads (the setting by default), results in order.

    With one worker (the in-process moto stack) it is a plain loop in the calling thread.
    """
    limit = max(1, min(workers or settings().aws_threads, settings().aws_threads))
    if limit == 1:
        yield from map(fn, items)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=limit) as pool:
        yield from pool.map(lambda item: _traced(lambda: fn(item))(), items)
