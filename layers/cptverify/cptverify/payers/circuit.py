"""A circuit breaker per payer, so a down payer is not hammered by retries.

After `failure_threshold` consecutive transport failures (timeout, unavailable, busy) the circuit
opens for `open_seconds`: calls fail at once with `PayerUnavailable` (code `circuit_open`, least
delay = time left) without touching the payer. When the time is up the next call goes through
(half-open); its failure opens the circuit again at once, its success closes it.

State sits behind `CircuitStore`; `MemoryCircuitStore` serves one process (local runs, tests), and
a DynamoDB store shares it between Lambda instances.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from cptverify.payers.errors import PayerUnavailable
from cptverify.payers.registry import CircuitSettings


@dataclass(slots=True)
class CircuitState:
    failures: int = 0
    opened_until: float | None = None

    def is_open(self, now: float) -> bool:
        return self.opened_until is not None and now < self.opened_until

    def status(self, now: float) -> str:
        if self.is_open(now):
            return "open"
        return "half_open" if self.opened_until is not None else "closed"


class CircuitStore(Protocol):
    """Where circuit state lives. Implementations must make each method atomic per payer."""

    def get(self, payer_id: str) -> CircuitState: ...

    def record_failure(
        self, payer_id: str, threshold: int, open_seconds: float, now: float
    ) -> CircuitState: ...

    def record_success(self, payer_id: str) -> None: ...


class MemoryCircuitStore:
    """Circuit state in this process's memory."""

    def __init__(self) -> None:
        self._states: dict[str, CircuitState] = {}
        self._lock = threading.Lock()

    def get(self, payer_id: str) -> CircuitState:
        with self._lock:
            state = self._states.get(payer_id)
            return CircuitState(state.failures, state.opened_until) if state else CircuitState()

    def record_failure(
        self, payer_id: str, threshold: int, open_seconds: float, now: float
    ) -> CircuitState:
        with self._lock:
            state = self._states.setdefault(payer_id, CircuitState())
            state.failures += 1
            if state.failures >= threshold:
                state.opened_until = now + open_seconds
            return CircuitState(state.failures, state.opened_until)

    def record_success(self, payer_id: str) -> None:
        with self._lock:
            self._states.pop(payer_id, None)


class CircuitBreaker:
    """The breaker for one payer."""

    def __init__(
        self,
        payer_id: str,
        settings: CircuitSettings,
        store: CircuitStore,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.payer_id = payer_id
        self.settings = settings
        self.store = store
        self.clock = clock

    # Limitation: when the open time is up, every caller that arrives before the first trial
    # call ends goes through (no single-probe lock in the half-open state).
    def check(self) -> None:
        """Raise `PayerUnavailable` if the circuit is open; otherwise let the call go."""
        now = self.clock()
        state = self.store.get(self.payer_id)
        if state.is_open(now):
            assert state.opened_until is not None
            raise PayerUnavailable(
                "circuit open after consecutive transport failures",
                payer_id=self.payer_id,
                code="circuit_open",
                least_delay_seconds=round(state.opened_until - now, 3),
            )

    def failure(self) -> CircuitState:
        return self.store.record_failure(
            self.payer_id, self.settings.failure_threshold, self.settings.open_seconds, self.clock()
        )

    def success(self) -> None:
        self.store.record_success(self.payer_id)

    def status(self) -> str:
        return self.store.get(self.payer_id).status(self.clock())
