"""Independent AWS calls at once: a bounded pool when deployed, one by one under moto."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from cptverify.aws import parallel
from cptverify.aws.settings import settings


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The deployed setting (8 threads), whatever the harness set."""
    monkeypatch.setenv("CPTVERIFY_AWS_THREADS", "8")
    settings.cache_clear()
    yield
    settings.cache_clear()


class Gauge:
    """Counts calls in flight and remembers the most at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self.lock = threading.Lock()

    def __call__(self, value: int) -> int:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        time.sleep(0.01)
        with self.lock:
            self.now -= 1
        return value * 2


def test_bounded_map_keeps_order_and_bound(threads: None) -> None:
    gauge = Gauge()
    assert list(parallel.bounded_map(gauge, range(40), 4)) == [v * 2 for v in range(40)]
    assert 1 < gauge.most <= 4


def test_one_thread_is_a_plain_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the moto stack's setting
    monkeypatch.setenv("CPTVERIFY_AWS_THREADS", "1")
    settings.cache_clear()
    seen: list[str] = []

    def record(value: int) -> int:
        seen.append(threading.current_thread().name)
        return value

    # WHEN calls are mapped or started THEN they run in this thread, in order
    try:
        assert list(parallel.bounded_map(record, [1, 2, 3], 8)) == [1, 2, 3]
        started = parallel.Started([lambda: record(4), lambda: record(5)])
        assert (started.result(0), started.result(1)) == (4, 5)
    finally:
        settings.cache_clear()
    assert set(seen) == {threading.current_thread().name}


def test_started_runs_at_once_and_keeps_each_error(threads: None) -> None:
    gauge = Gauge()

    def fails() -> None:
        raise KeyError("boom")

    started = parallel.Started([lambda: gauge(1), fails, lambda: gauge(3)])
    assert started.result(0) == 2 and started.result(2) == 6
    with pytest.raises(KeyError):
        started.result(1)
    assert gauge.most == 2


def test_bounded_map_raises_a_worker_error(threads: None) -> None:
    def odd_fails(value: int) -> int:
        if value % 2:
            raise ValueError("odd")
        return value

    with pytest.raises(ValueError):
        list(parallel.bounded_map(odd_fails, range(6), 3))
