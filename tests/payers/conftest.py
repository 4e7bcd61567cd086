"""Reuse the simulator fixtures of tests/simulator."""

from tests.simulator.conftest import plan_book, simulator

__all__ = ["plan_book", "simulator"]
