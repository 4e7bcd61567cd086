"""Per-payer call metrics: latency, outcome by class, AAA codes, share answered within 20 s.

Dimensions are the payer id, the outcome class and the AAA code: never patient data. Deployed
(or with `CPTVERIFY_PAYER_METRICS=emf`) each data point is written as a Powertools EMF metric;
otherwise points are kept in memory (`MemoryPayerMetrics`) so local runs print nothing extra.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from typing import Protocol

CORE_ANSWER_SECONDS = 20.0


class PayerMetrics(Protocol):
    def record_call(
        self, payer_id: str, outcome: str, latency_ms: float, aaa_codes: list[str]
    ) -> None: ...


class MemoryPayerMetrics:
    """Counts kept in memory; handy for tests and the local stack."""

    def __init__(self) -> None:
        self.outcomes: Counter[tuple[str, str]] = Counter()
        self.aaa: Counter[tuple[str, str]] = Counter()
        self.latencies: dict[str, list[float]] = {}
        self.within_20s: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record_call(
        self, payer_id: str, outcome: str, latency_ms: float, aaa_codes: list[str]
    ) -> None:
        with self._lock:
            self.outcomes[(payer_id, outcome)] += 1
            for code in aaa_codes:
                self.aaa[(payer_id, code)] += 1
            self.latencies.setdefault(payer_id, []).append(latency_ms)
            if latency_ms <= CORE_ANSWER_SECONDS * 1000:
                self.within_20s[payer_id] += 1


class PowertoolsPayerMetrics:
    """EMF metrics through Powertools `single_metric` (one flush per data point)."""

    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = namespace or os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "cptverify")

    def _emit(self, name: str, unit: str, value: float, dims: dict[str, str]) -> None:
        from aws_lambda_powertools.metrics import MetricUnit, single_metric

        with single_metric(
            name=name,
            unit=MetricUnit(unit),
            value=value,
            namespace=self.namespace,
            default_dimensions=dims,
        ):
            pass

    def record_call(
        self, payer_id: str, outcome: str, latency_ms: float, aaa_codes: list[str]
    ) -> None:
        payer = {"payer_id": payer_id}
        self._emit("PayerLatency", "Milliseconds", latency_ms, payer)
        self._emit("PayerCalls", "Count", 1, {**payer, "outcome": outcome})
        within = 1.0 if latency_ms <= CORE_ANSWER_SECONDS * 1000 else 0.0
        self._emit("PayerAnsweredWithin20s", "Count", within, payer)
        for code in aaa_codes:
            self._emit("PayerAaa", "Count", 1, {**payer, "aaa_code": code})


def default_payer_metrics() -> PayerMetrics:
    emf = os.environ.get("CPTVERIFY_PAYER_METRICS") == "emf"
    if emf or os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
        return PowertoolsPayerMetrics()
    return MemoryPayerMetrics()
