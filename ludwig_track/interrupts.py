"""Stop requests from signals, raised where the training loop can act on them.

An exception raised by a signal handler is lost when the signal arrives during a
garbage-collector callback: Python prints "Exception ignored" and carries on.
So the request is also kept as a flag, and raised again at the next batch,
trial or run boundary.
"""

from __future__ import annotations

import signal
from types import FrameType

_stop_reason: str | None = None


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so that runs end KILLED."""


def request_stop(reason: str) -> None:
    global _stop_reason
    _stop_reason = reason


def stop_requested() -> bool:
    return _stop_reason is not None


def raise_if_stop_requested() -> None:
    """Raise :class:`Terminated` if a stop was requested and not yet acted on."""
    if _stop_reason is not None:
        raise Terminated(_stop_reason)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    request_stop("terminated by SIGTERM")
    raise Terminated("terminated by SIGTERM")


def install_sigterm_handler() -> object:
    """Make SIGTERM stop the process like Ctrl-C; return the previous handler."""
    return signal.signal(signal.SIGTERM, _on_sigterm)
