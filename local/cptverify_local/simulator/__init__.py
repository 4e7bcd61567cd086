"""The payer simulator: CAQH CORE MIME and SOAP on loopback, answering 270s from a plan book."""

from cptverify_local.simulator.server import (
    DEFAULT_PORT,
    FAULT_HEADER,
    SimulatorServer,
    running_simulator,
)

__all__ = ["DEFAULT_PORT", "FAULT_HEADER", "SimulatorServer", "running_simulator"]
