"""The sim backend's contract, and the safety layer under injected faults."""

from __future__ import annotations

import numpy as np
import pytest

from robot_deploy.backends.sim import SimBackend
from robot_deploy.robot import JointCommand, Robot, RobotState
from robot_deploy.safety import SafetyConfig, SafetyLayer, SafetyTrip, TripTally
from tests.robot_deploy.contract import (
    check_simulated_contract,
    record_commands,
    shove_until_tilt_trip,
)

ROBOTS = ["a1", "laikago", "go1", "go2"]




@pytest.mark.parametrize("robot", ROBOTS)
def test_contract(robot):
    backend = SimBackend(robot)
    check_simulated_contract(backend)


def test_dynamics_reach_the_sim():
    light, heavy = SimBackend("a1"), SimBackend("a1", dynamics={"base_mass_scale": 2.5})
    heights = []
    for backend in (light, heavy):
        with backend:
            for _ in range(500):
                backend.command(JointCommand.position(backend.spec.default, backend.spec))
            heights.append(backend.sim.base_pose()[0][2])
    assert heights[1] < heights[0] - 0.005




def _safe(backend: Robot, **cfg) -> SafetyLayer:
    safe = SafetyLayer(backend, SafetyConfig(**cfg))
    safe.connect()
    return safe


def test_nan_and_inf_never_reach_a_motor():
    backend = SimBackend("a1")
    safe = _safe(backend)
    sent = record_commands(backend)
    q = backend.spec.default.copy()
    q[4] = np.nan
    safe.read()
    safe.command(JointCommand.position(q, backend.spec))
    assert safe.tripped == "non_finite_command"
    assert all(c.finite for c in sent) and sent[-1].kp.max() == 0.0  # damping, not NaN
    bad = JointCommand.position(backend.spec.default, backend.spec)
    object.__setattr__(bad, "tau", np.full(12, np.inf))
    safe.command(bad)
    assert all(c.finite for c in sent)
    with pytest.raises(SafetyTrip, match="non_finite_command"):
        safe.check()
    safe.close()


def test_huge_targets_are_limited_not_passed_through():
    backend = SimBackend("a1")
    safe = _safe(backend)
    sent = record_commands(backend)
    spec = backend.spec
    for _ in range(20):
        safe.read()
        safe.command(JointCommand.position(spec.default + 50.0, spec))  # absurd targets
    assert safe.tripped is None and safe.clips == 20
    for cmd in sent:
        assert np.all(cmd.q <= spec.upper) and np.all(cmd.q >= spec.lower)
    state = backend.read()
    torque = sent[-1].kp * (sent[-1].q - state.q) - sent[-1].kd * state.dq
    assert np.all(np.abs(torque) <= np.asarray(spec.torque_limits) + 5.0)
    safe.close()


def test_target_rate_limit():
    backend = SimBackend("a1")
    safe = _safe(backend)
    spec = safe.spec
    sent = record_commands(backend)
    goal = spec.default + 0.5
    for _ in range(15):  # low gains: no torque limit involved, only the rate limit
        safe.read()
        safe.command(JointCommand(q=goal, kp=np.full(12, 5.0), kd=np.full(12, 0.5)))
    start = backend.read().q  # barely moved: low gains
    steps = np.abs(np.diff([spec.default, *[c.q for c in sent]], axis=0))
    assert steps.max() <= 12.0 * 0.002 + 1e-6  # 12 rad/s over each 2 ms command
    assert np.abs(start - spec.default).max() < 0.05
    assert np.all(np.abs(sent[-1].q - goal) > 0)  # still on its way after 60 ms
    safe.close()


class _FrozenState(Robot):
    """A robot whose state stops updating after a while (lost packets)."""

    def __init__(self, inner: SimBackend, freeze_after: float) -> None:
        self.inner, self.spec, self.freeze_after = inner, inner.spec, freeze_after
        self.frozen: RobotState | None = None

    def connect(self, timeout: float = 5.0) -> None:
        self.inner.connect(timeout)

    def read(self) -> RobotState:
        if self.inner.now() >= self.freeze_after:
            self.frozen = self.frozen or self.inner.read()
            return self.frozen
        return self.inner.read()

    def command(self, cmd: JointCommand) -> None:
        self.inner.command(cmd)

    def now(self) -> float:
        return self.inner.now()

    def close(self) -> None:
        self.inner.close()


def test_stale_state_trips_the_watchdog():
    safe = _safe(_FrozenState(SimBackend("a1"), freeze_after=0.1))
    spec = safe.spec
    n = 0
    while not safe.tripped and n < 200:
        safe.read()
        safe.command(JointCommand.position(spec.default, spec))
        n += 1
    assert safe.tripped == "stale_state"
    assert 0.14 <= safe.now() <= 0.16  # 50 ms after the last fresh state
    safe.close()


def test_shove_past_the_tilt_limit_trips_and_damps():
    backend = SimBackend("a1")
    safe = _safe(backend)
    shove_until_tilt_trip(backend, safe)
    assert safe.events[-1].kind == "tilt" and "roll/pitch" in safe.events[-1].detail
    safe.rearm()
    assert safe.tripped is None and safe.events[-1].kind == "rearm"
    safe.close()


def test_trips_are_logged_and_tallied(caplog):
    """Each trip is a warning of the ``robot_deploy.safety`` log; a tally counts them."""
    backend = SimBackend("a1")
    safe = _safe(backend)
    q = backend.spec.default.copy()
    q[0] = np.nan
    tally = TripTally.attach()
    try:
        for _ in range(3):
            safe.rearm()
            safe.read()
            safe.command(JointCommand.position(q, backend.spec))
    finally:
        tally.detach()
        safe.close()
    assert tally.kinds == {"non_finite_command": 3}
    assert tally.summary() == ("safety layer: 3 trips (non_finite_command 3); quadmimic "
                               "--verbose prints each")
    trips = [r for r in caplog.records if r.name == "robot_deploy.safety"]
    assert len(trips) == 3 and all(r.levelname == "WARNING" for r in trips)
    assert TripTally().summary() is None
