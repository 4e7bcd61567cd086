"""Inquiry lifecycle: the domain flows behind the API handler and the state machine tasks."""
