"""The `--port` argument type shared by the commands that listen on loopback."""

from __future__ import annotations

import argparse


def tcp_port(text: str) -> int:
    """A TCP port number 1-65535, or an argparse error naming the rule (exit 2, no traceback)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (1-65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 1-65535")
    return port
