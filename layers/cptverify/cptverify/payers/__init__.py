"""Payer connectivity: CAQH CORE transports, the payer registry, payer health and outcomes."""
