"""A recorded retry clock for moto's Step Functions interpreter.

moto's retrier sleeps with `time.sleep` and applies `JitterStrategy: FULL` with the module
`random`; Wait states wait on an event. The clock replaces all three: backoffs and waits are
recorded (and not waited out), and jitter draws come from a seeded generator, so a test can
assert the exact sequence or its bounds.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RetryClock:
    seed: int = 5
    sleeps: list[float] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    jitter_ceilings: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(float(seconds))

    def uniform(self, low: float, high: float) -> float:
        """Full jitter: a seeded draw in [low, high]; the ceiling (the un-jittered backoff)
        is recorded too."""
        with self._lock:
            self.jitter_ceilings.append(float(high))
            return self._random.uniform(low, high)

    def wait(self, seconds: float) -> None:
        with self._lock:
            self.waits.append(float(seconds))

    def reset(self) -> None:
        with self._lock:
            self.sleeps.clear()
            self.waits.clear()
            self.jitter_ceilings.clear()
            self._random = random.Random(self.seed)

    def random_module(self) -> Any:
        """Stands in for the `random` module inside moto's jitter declaration."""
        return _SeededRandom(self)


class _SeededRandom:
    def __init__(self, clock: RetryClock) -> None:
        self._clock = clock

    def uniform(self, low: float, high: float) -> float:
        return self._clock.uniform(low, high)
