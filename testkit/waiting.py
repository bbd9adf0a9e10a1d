"""Waiting on things that happen in other threads and processes, with a time limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.005) -> bool:
    """Poll ``predicate`` every ``interval`` seconds until it is true or ``timeout`` seconds
    pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def run_in_thread(loop) -> threading.Thread:
    """Run a :class:`~livemelody.live.loop.RealtimeLoop` on a daemon thread (in-process tests
    and benchmarks; the instrument runs it in the engine process's main thread)."""
    thread = threading.Thread(target=loop.run, name="livemelody-realtime", daemon=True)
    thread.start()
    return thread
