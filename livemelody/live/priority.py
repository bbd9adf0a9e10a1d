"""Scheduling priority for the engine's real-time thread.

Measured on a 2-core machine with the dashboard redrawing beside the engine: at ``nice -10``
the real-time loop sent 3.7 ms late at p99, because the kernel's fair scheduler let Textual,
JACK's clients and the rest run first; under ``SCHED_FIFO`` the same run gave 0.05 ms
(docs/BENCHMARKS.md has both side by side). Audio software does the same: JACK and PipeWire
run their process threads under ``SCHED_FIFO``.

``SCHED_FIFO`` needs permission: root, ``CAP_SYS_NICE``, or an ``rtprio`` limit (on Linux
desktops, membership of the ``audio`` or ``realtime`` group that JACK's packages set up).
Without it the thread falls back to ``nice -10`` where allowed, else keeps its priority; the
engine reports which it got. ``SCHED_FIFO`` is Linux's; on macOS only the nice value is
lowered (where permitted), and on Windows nothing changes ("normal").
"""

from __future__ import annotations

import os
import threading

REALTIME_PRIORITY = 5
"""SCHED_FIFO priority of the engine's loop (1..99): above every normal thread, below JACK's
and PipeWire's audio threads (about 10-88), which must never wait for a MIDI scheduler."""

NICE = -10
"""The fallback: a nice value ahead of the dashboard (which runs at +5) and other programs."""


def raise_thread_priority(realtime: bool = True) -> str:
    """Raise the calling thread's priority; returns what it got, in words.

    With ``realtime`` it asks for ``SCHED_FIFO`` at :data:`REALTIME_PRIORITY`; otherwise, or
    when that is not permitted, it lowers the nice value to :data:`NICE`. Threads created
    afterwards by this thread inherit its policy, so call it once the helper threads run.
    """
    if realtime and hasattr(os, "sched_setscheduler"):
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))  # 0: this thread
            return f"realtime (SCHED_FIFO {REALTIME_PRIORITY})"
        except OSError:
            pass
    if not hasattr(os, "nice"):
        return "normal"
    try:
        if os.nice(0) > NICE:
            os.nice(NICE - os.nice(0))  # per thread on Linux
    except OSError:
        pass
    if not realtime:
        return f"nice {os.nice(0)}"
    missing = "not permitted" if hasattr(os, "sched_setscheduler") else "not on this system"
    return f"nice {os.nice(0)}; SCHED_FIFO {missing}"


def realtime_permitted() -> bool:
    """Whether this process may use ``SCHED_FIFO`` (tried on a throwaway thread)."""
    if not hasattr(os, "sched_setscheduler"):
        return False
    result: list[bool] = []

    def probe() -> None:
        try:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, name="rt-probe")
    thread.start()
    thread.join()
    return result[0]
