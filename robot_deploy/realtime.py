"""Real-time scheduling of the command loop, as hardware bridges for legged robots do.

The MIT Cheetah ``HardwareBridge`` and the Unitree SDK examples run their control thread under
``SCHED_FIFO`` (priority 49, just under the kernel's interrupt threads at 50) so that it
preempts everything of normal priority the moment its period is due. Without it, the 500 Hz
command loop shares the CPUs with whatever else runs (here: the robot emulator's physics) and
the scheduler may let it wake late. Measured with ``quadmimic bench deploy`` on the go1-udp
emulator (see the figures in ``docs/deploy.md``).

Linux only lets privileged processes (root or ``CAP_SYS_NICE``, or a positive
``RLIMIT_RTPRIO``) ask for it; elsewhere the loop runs at normal priority and the reason is
reported. The kernel's RT throttling (95 % of each second by default) keeps a runaway loop
from locking the machine.

A real-time Python loop also has to keep the garbage collector's full collections out of its
periods: :func:`frozen_heap`.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator

DEFAULT_PRIORITY = 49
"""SCHED_FIFO priority of the command loop (1..99; 49 is the hardware bridges' choice)."""


@contextlib.contextmanager
def realtime_scheduling(priority: int | None = DEFAULT_PRIORITY) -> Iterator[str]:
    """Run the calling thread under ``SCHED_FIFO`` at ``priority`` inside the block.

    The previous policy and priority are restored on exit, so a process that runs many
    deployments (adaptation) returns to normal scheduling between them.

    Args:
        priority: 1..99, or None / 0 to leave the scheduling alone.

    Yields:
        What applies inside the block, e.g. ``"SCHED_FIFO 49"`` or
        ``"normal (SCHED_FIFO not permitted: ...)"``.

    Raises:
        ValueError: ``priority`` outside 0..99.
    """
    if priority is not None and not 0 <= priority <= 99:
        raise ValueError(f"real-time priority must be in 1..99 (0: off), got {priority}")
    if not priority:
        yield "normal (real-time scheduling off)"
        return
    if not hasattr(os, "sched_setscheduler"):  # pragma: no cover - not Linux
        yield "normal (SCHED_FIFO not available on this OS)"
        return
    before_policy = os.sched_getscheduler(0)
    before_param = os.sched_getparam(0)
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
    except OSError as exc:
        yield f"normal (SCHED_FIFO not permitted: {exc.strerror})"
        return
    try:
        yield f"SCHED_FIFO {priority}"
    finally:
        os.sched_setscheduler(0, before_policy, before_param)


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep the garbage collector's full collections out of a real-time loop inside the block.

    CPython's cyclic collector stops every thread of the process while it scans a generation.
    With torch, onnxruntime, PyBullet and a bundle loaded a deploy process holds about 200,000
    tracked objects, and a full collection took 75–85 ms (2026-12-07, two vCPUs, one beside
    a training): longer than the safety layer's 50 ms state watchdog, and the receive thread
    that stamps the robot's state stops with it. A run's start-up allocates the objects that
    make the next full collection due, so the pause fell into the stand-up ramp: the go1-udp
    emulator test tripped on stale state 0.76 s into it. ``gc.freeze()`` moves every object
    alive at the start to a permanent generation that collections skip (a full collection
    then took under 0.01 ms); the loop's own short-lived objects are still collected. On exit
    the objects are handed back to the collector.

    Yields:
        Nothing; the block runs with the heap frozen.
    """
    gc.collect()  # what is garbage now is not frozen alive
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
