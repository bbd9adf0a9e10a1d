"""The engine's timing thread asks for realtime scheduling; nothing else inherits it."""

import os
import sys
import threading

import pytest

from livemelody.config import EngineConfig
from livemelody.live.priority import NICE, REALTIME_PRIORITY, raise_thread_priority, realtime_permitted
from livemelody.live.process import EngineHandle, EngineOptions

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="thread scheduling checked through Linux APIs"
)


def in_thread(function):
    """Run ``function`` on a fresh thread; return (its result, the thread's policy, its nice)."""
    out = []

    def body():
        result = function()
        out.append((result, os.sched_getscheduler(0), os.nice(0)))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    return out[0]


def test_realtime_where_permitted_else_nice():
    text, policy, nice = in_thread(raise_thread_priority)
    if realtime_permitted():
        assert policy == os.SCHED_FIFO and text == f"realtime (SCHED_FIFO {REALTIME_PRIORITY})"
    else:
        assert policy == os.SCHED_OTHER and text.startswith(f"nice {nice}") and "not permitted" in text
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # only the calling thread changed


def test_without_realtime_the_thread_stays_fair_and_says_so():
    before = os.nice(0)
    text, policy, nice = in_thread(lambda: raise_thread_priority(realtime=False))
    assert policy == os.SCHED_OTHER and text == f"nice {nice}"
    assert nice == NICE or nice == before  # lowered where permitted, else unchanged
    assert os.nice(0) == before


def threads_of(pid: int) -> dict[int, int]:
    """Thread id -> scheduling policy, for every thread of ``pid``."""
    policies = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            policies[int(tid)] = os.sched_getscheduler(int(tid))
        except OSError:  # the thread ended meanwhile
            pass
    return policies


@pytest.mark.parametrize("realtime", [True, False])
def test_engine_reports_its_timing_thread_and_no_helper_inherits_it(realtime):
    options = EngineOptions(
        config=EngineConfig(style="deutsch"),
        api="loopback",
        input=None,
        output=None,
        styles=("deutsch",),
        demo=True,
        realtime=realtime,
    )
    handle = EngineHandle(options).start()
    try:
        policies = threads_of(handle.pid)
    finally:
        handle.stop()
    reported = handle.info.priority
    loop_policy = policies.pop(handle.pid)  # the loop runs on the engine's main thread
    if realtime and realtime_permitted():
        assert loop_policy == os.SCHED_FIFO and reported.startswith("realtime")
    else:
        assert loop_policy == os.SCHED_OTHER and reported.startswith("nice")
    assert len(policies) >= 2 and set(policies.values()) == {os.SCHED_OTHER}
