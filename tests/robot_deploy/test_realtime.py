"""Real-time scheduling of the command loop: applied when permitted, always undone."""

from __future__ import annotations

import gc
import os
import threading
import weakref

import pytest

from robot_deploy.backends.sim import SimBackend
from robot_deploy.controller import PolicyController
from robot_deploy.realtime import frozen_heap, realtime_scheduling
from sim_training.bundle import PolicyBundle


def test_fifo_inside_the_block_and_restored_after():
    before = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
    with realtime_scheduling(20) as how:
        inside = (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority)
        if how.startswith("SCHED_FIFO"):
            assert how == "SCHED_FIFO 20" and inside == (os.SCHED_FIFO, 20)
        else:  # an unprivileged machine: said why, nothing changed
            assert "not permitted" in how and inside == before
    assert (os.sched_getscheduler(0), os.sched_getparam(0).sched_priority) == before


def test_restored_when_the_block_raises():
    before = os.sched_getscheduler(0)
    with pytest.raises(KeyboardInterrupt), realtime_scheduling(10):
        raise KeyboardInterrupt
    assert os.sched_getscheduler(0) == before


def test_only_the_calling_thread_changes():
    seen = {}

    def worker() -> None:
        with realtime_scheduling(10) as how:
            seen["how"] = how
            seen["thread"] = os.sched_getscheduler(0)
            seen["main"] = os.sched_getscheduler(threading.main_thread().native_id)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen["main"] == os.SCHED_OTHER
    if seen["how"].startswith("SCHED_FIFO"):
        assert seen["thread"] == os.SCHED_FIFO


def test_off_and_bad_priorities():
    before = os.sched_getscheduler(0)
    for off in (None, 0):
        with realtime_scheduling(off) as how:
            assert how.startswith("normal") and os.sched_getscheduler(0) == before
    for bad in (-1, 100):
        with pytest.raises(ValueError, match=r"1\.\.99"), realtime_scheduling(bad):
            pass


def test_controller_reports_its_scheduling(tiny_policy):
    bundle = PolicyBundle.load(tiny_policy)
    backend = SimBackend("a1", realtime=True)
    try:
        result = PolicyController(bundle, backend, realtime=True, rt_priority=30).run(
            0.3, ramp_seconds=0.1)
    finally:
        backend.close()
    assert result.scheduler == "SCHED_FIFO 30" or "not permitted" in result.scheduler
    assert result.commands > 100 and os.sched_getscheduler(0) == os.SCHED_OTHER
    lockstep = PolicyController(bundle, SimBackend("a1"), rt_priority=30).run(0.1,
                                                                               ramp_seconds=0.05)
    assert lockstep.scheduler.startswith("normal")  # only real-time loops ask for it


class _Node:
    """A weak-referenceable object for a reference cycle."""


def test_frozen_heap_freezes_what_lives_and_collects_what_does_not():
    """Cyclic garbage from before the block is collected, not frozen alive; live objects are
    frozen (a full collection skips them); everything is handed back on exit, also on error."""
    assert gc.get_freeze_count() == 0
    garbage = _Node()
    garbage.self = garbage
    gone = weakref.ref(garbage)
    del garbage
    with frozen_heap():
        assert gone() is None
        assert gc.get_freeze_count() > 1000  # the interpreter's and the test session's objects
    assert gc.get_freeze_count() == 0
    with pytest.raises(KeyboardInterrupt), frozen_heap():
        raise KeyboardInterrupt
    assert gc.get_freeze_count() == 0


def test_a_real_time_run_freezes_the_heap_and_a_lockstep_run_does_not(tiny_policy):
    bundle = PolicyBundle.load(tiny_policy)
    frozen = {}

    def on_step(mode):
        return lambda t, state, action: frozen.setdefault(mode, gc.get_freeze_count())

    backend = SimBackend("a1", realtime=True)
    try:
        PolicyController(bundle, backend, realtime=True).run(
            0.1, ramp_seconds=0.05, on_step=on_step("realtime"))
    finally:
        backend.close()
    PolicyController(bundle, SimBackend("a1")).run(0.1, ramp_seconds=0.05,
                                                   on_step=on_step("lockstep"))
    assert frozen["realtime"] > 1000 and frozen["lockstep"] == 0
    assert gc.get_freeze_count() == 0
