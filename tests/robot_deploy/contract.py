"""The Robot contract every backend's test checks its states against."""

from __future__ import annotations

import time

import numpy as np

from robot_deploy.robot import JointCommand, Robot, RobotState
from robot_deploy.safety import SafetyConfig


def check_state(state: RobotState, quat_tolerance: float = 1e-5) -> None:
    """Shapes, dtypes, finite values, foot contacts and a unit quaternion."""
    for name, n in (("q", 12), ("dq", 12), ("tau", 12), ("quat", 4), ("gyro", 3),
                    ("accel", 3)):
        value = getattr(state, name)
        assert value.shape == (n,) and value.dtype == np.float64, name
    assert state.finite
    assert state.foot_contact is not None and state.foot_contact.shape == (4,)
    assert state.foot_contact.dtype == bool
    assert abs(np.linalg.norm(state.quat) - 1.0) < quat_tolerance


def record_commands(backend: Robot) -> list[JointCommand]:
    """Make ``backend`` keep every command it receives; returns that list."""
    sent: list[JointCommand] = []
    original = backend.command
    backend.command = lambda cmd: (sent.append(cmd), original(cmd))[1]
    return sent


class Recorder:
    """Keeps what a backend read and was sent, in order, with the time of each."""

    def __init__(self, robot):
        self.events: list[tuple[str, float, object]] = []
        read, command = robot.read, robot.command

        def recorded_read():
            state = read()
            self.events.append(("state", time.monotonic(), state))
            return state

        def recorded_command(cmd):
            command(cmd)
            self.events.append(("command", time.monotonic(), cmd))

        robot.read, robot.command = recorded_read, recorded_command

    def after_first_estop(self) -> tuple[float, list[tuple[float, JointCommand]]]:
        """When the first state with the e-stop was read, and every command after it."""
        first = next(i for i, (kind, _, value) in enumerate(self.events)
                     if kind == "state" and value.remote is not None and value.remote.estop)
        return self.events[first][1], [(t, v) for kind, t, v in self.events[first:]
                                       if kind == "command"]


def assert_damped_within_one_period(recorder: Recorder, period: float) -> None:
    """The command that follows the first e-stop state is damping, and so is every later
    command: no command of the policy reaches the motors after the e-stop was read.

    Counted in commands, that is within one command period. The wall time from the read to
    the damping command is printed; the bound asserted on it is the safety layer's default
    state watchdog (50 ms), which a stall would cross, not ``period`` itself, which a
    loaded 2-core machine may exceed by a scheduling slice without anything being wrong.
    """
    seen, commands = recorder.after_first_estop()
    assert commands, "nothing was sent after the e-stop"
    first_t = commands[0][0]
    print(f"damping sent {1000 * (first_t - seen):.2f} ms after the e-stop state was read "
          f"(command period {1000 * period:.1f} ms)")
    assert all(c.kp.max() == 0.0 and c.kd.min() > 0 for _, c in commands)
    assert first_t - seen < max(period, SafetyConfig().max_state_age)


def check_simulated_contract(backend: Robot) -> None:
    """The contract of a simulated backend in lockstep: refuses reads before connecting,
    starts standing at time 0, holds its default pose for 0.5 s of 250 commands, stands,
    feels gravity, damps and closes twice."""
    import pytest

    from quadmimic.core.errors import RobotConnectionError

    with pytest.raises(RobotConnectionError):
        backend.read()
    with backend:
        state = backend.read()
        check_state(state)
        assert state.stamp == 0.0
        np.testing.assert_allclose(state.q, backend.spec.default, atol=1e-9)
        for _ in range(250):  # 0.5 s holding the default pose
            backend.command(JointCommand.position(backend.spec.default, backend.spec))
        state = backend.read()
        check_state(state)
        assert state.stamp == pytest.approx(0.5)
        assert np.all(np.abs(state.roll_pitch) < 0.1)  # still standing
        assert state.foot_contact.all()
        assert abs(state.accel[2] - 9.81) < 1.0  # at rest the IMU feels gravity
        backend.damp()
    backend.close()  # idempotent


def shove_until_tilt_trip(backend: Robot, safe: Robot) -> None:
    """Stand 0.1 s, push the robot hard sideways, and see the safety layer trip on tilt."""
    spec = safe.spec
    for _ in range(50):
        safe.read()
        safe.command(JointCommand.position(spec.default, spec))
    backend.shove(np.array([0.0, 3.0, 0.0]))  # a hard sideways push
    for _ in range(500):
        safe.read()
        safe.command(JointCommand.position(spec.default, spec))
        if safe.tripped:
            break
    assert safe.tripped == "tilt"
