"""The safety layer: sits between every command source and every robot, and is a Robot.

Every state read is checked first: non-finite values trip (``bad_state``), and so does the
e-stop combination held on the wireless remote (``estop``; L2 + B by default, see
:mod:`robot_deploy.remote`), so the very next command, one command period later at most,
is damping. Every command passes these checks, in order, before it reaches the motors:

1. tripped already → the motors get damping instead;
2. non-finite values anywhere → trip (the bad command never reaches a motor);
3. state watchdog: the newest state older than ``max_state_age`` → trip;
4. roll or pitch beyond ``max_tilt`` → trip;
5. position targets clipped into the joint limits (less a margin);
6. target rate limit: a target moves at most ``max_target_speed`` rad/s from the last one;
7. torque limit: targets pulled toward the measured angles so the motor torque
   ``kp·(q* − q) + kd·(dq* − dq) + τ`` stays within the spec's limits (this may move a target
   faster than the rate limit: toward where the joint actually is), and power ``Σ|τ·dq|``
   within ``max_power``.

A trip puts the robot in damping mode at once, logs its reason (the ``logging`` log, not the
terminal: a command prints one :class:`TripTally` line per run), and stays until
:meth:`SafetyLayer.rearm`. Clips are counted, not trips.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from quadmimic.core.errors import QuadmimicError
from robot_deploy.remote import ESTOP_BUTTONS, key_mask
from robot_deploy.robot import JointCommand, Robot, RobotState, RobotWrapper

log = logging.getLogger(__name__)


class SafetyTrip(QuadmimicError):
    """The safety layer stopped the robot; the message says which check tripped."""


@dataclass(frozen=True)
class SafetyConfig:
    """Limits of the safety layer."""

    position_margin: float = 0.02
    """Targets stay this far (rad) inside the joint limits."""
    max_target_speed: float = 12.0
    """Fastest a position target may move (rad/s)."""
    max_power: float = 1500.0
    """Mechanical power limit Σ|τ·dq| (W) of the estimated command torques."""
    max_tilt: float = 0.8
    """Roll or pitch (rad) beyond which the robot is considered falling."""
    max_state_age: float = 0.05
    """Newest state older than this (s) → no fresh state → trip."""
    damping_kd: float = 3.0
    """Velocity gain (N·m·s/rad) of damping mode."""
    estop_buttons: tuple[str, ...] = ESTOP_BUTTONS
    """Remote buttons that, held together, trip and damp (empty: no e-stop on the remote)."""

    def __post_init__(self) -> None:
        """Check the e-stop button names (:class:`~robot_deploy.remote.RemoteFormatError`)."""
        object.__setattr__(self, "estop_buttons", tuple(self.estop_buttons))
        key_mask(self.estop_buttons)


def clip_to_joint_limits(q: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                         margin: float) -> np.ndarray:
    """Position targets (12,) rad clipped into the joint limits less ``margin`` (rad)."""
    return np.clip(q, np.asarray(lower) + margin, np.asarray(upper) - margin)


def rate_limit(q: np.ndarray, last: np.ndarray, max_speed: float, dt: float) -> np.ndarray:
    """Targets (12,) rad moved at most ``max_speed`` rad/s × ``dt`` s (≥ 1 ms) from ``last``."""
    step = max_speed * max(dt, 1e-3)
    return np.clip(q, last - step, last + step)


def torque_limit(q_t: np.ndarray, q: np.ndarray, dq: np.ndarray, cmd: JointCommand,
                 limit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Targets pulled toward the measured angles so the motor torques stay within ``limit``.

    The torque is the Unitree law ``kp(q* − q) + kd(dq* − dq) + τ``.

    Args:
        q_t: (12,) position targets (rad).
        q: (12,) measured angles (rad).
        dq: (12,) measured speeds (rad/s).
        cmd: The command (its gains, speed targets and feed-forward torques).
        limit: (12,) torque limits (N·m).

    Returns:
        (targets (12,) rad, the estimated motor torques (12,) N·m with them).
    """
    rest = cmd.kd * (cmd.dq - dq) + cmd.tau
    tau = cmd.kp * (q_t - q) + rest
    fix = (np.abs(tau) > limit) & (cmd.kp > 0)
    if np.any(fix):
        tau_ok = np.clip(tau, -limit, limit)
        q_t = np.where(fix, q + (tau_ok - rest) / np.where(fix, cmd.kp, 1.0), q_t)
        tau = np.where(fix, tau_ok, tau)
    return q_t, tau


def power_limit(q_t: np.ndarray, q: np.ndarray, dq: np.ndarray, tau: np.ndarray,
                max_power: float) -> np.ndarray:
    """Targets (12,) rad shrunk toward the measured angles when Σ|τ·dq| > ``max_power`` W."""
    power = float(np.sum(np.abs(tau * dq)))
    if power <= max_power:
        return q_t
    return q + (q_t - q) * (max_power / power)


def tilted(roll_pitch: np.ndarray, max_tilt: float) -> bool:
    """Roll or pitch (rad) beyond ``max_tilt``: the robot is falling."""
    return bool(np.any(np.abs(roll_pitch) > max_tilt))


@dataclass
class SafetyEvent:
    """One logged safety event."""

    time: float
    kind: str
    detail: str


@dataclass
class SafetyLayer(RobotWrapper):
    """Wrap ``inner`` with the checks above; use it exactly like the robot it wraps.

    Args:
        inner: The robot.
        config: The limits.
    """

    inner: Robot
    config: SafetyConfig = field(default_factory=SafetyConfig)
    command_period: float = 0.002
    """Expected time between commands (s): the first command's rate-limit step."""

    def __post_init__(self) -> None:
        """Start armed."""
        self.spec = self.inner.spec
        self.tripped: str | None = None
        self.events: list[SafetyEvent] = []
        self.clips = 0
        self._last_target: np.ndarray | None = None
        self._last_time: float | None = None
        self._state: RobotState | None = None

    # ------------------------------------------------------------------ Robot
    def read(self) -> RobotState:
        """The inner robot's state; a non-finite state, or the e-stop on the remote, trips."""
        state = self.inner.read()
        self._state = state
        if not self.tripped:
            if not state.finite:
                self._trip("bad_state", "non-finite values in the robot state")
            else:
                self._check_remote(state)
        return state

    def _check_remote(self, state: RobotState) -> None:
        buttons = self.config.estop_buttons
        if buttons and state.remote is not None and state.remote.pressed(*buttons):
            self._trip("estop", f"{'+'.join(buttons)} held on the wireless remote")

    def damp(self) -> None:
        """Damping mode on the inner robot (not a trip)."""
        self.inner.command(JointCommand.damping(self.config.damping_kd))

    def command(self, cmd: JointCommand) -> None:
        """Check and limit ``cmd``, then send it, or damping if tripped (see module doc)."""
        if self.tripped:
            self.damp()
            return
        if not cmd.finite:
            self._trip("non_finite_command", "command holds NaN or inf")
            return
        state = self._state if self._state is not None else self.read()
        self._check_remote(state)
        if self.tripped:
            return
        age = self.now() - state.stamp
        if age > self.config.max_state_age:
            self._trip("stale_state", f"newest state is {age * 1000:.0f} ms old")
            return
        tilt = np.abs(state.roll_pitch)
        if tilted(state.roll_pitch, self.config.max_tilt):
            self._trip("tilt", f"roll/pitch {tilt[0]:.2f}/{tilt[1]:.2f} rad beyond "
                               f"{self.config.max_tilt}")
            return
        self.inner.command(self._limit(cmd, state))

    # ------------------------------------------------------------------ checks
    def _limit(self, cmd: JointCommand, state: RobotState) -> JointCommand:
        spec, cfg = self.spec, self.config
        now = self.now()
        # The first target after (re)arming starts from where the joints are.
        last = state.q if self._last_target is None else self._last_target
        dt = self.command_period if self._last_time is None else now - self._last_time
        q_t = clip_to_joint_limits(cmd.q, spec.lower, spec.upper, cfg.position_margin)
        q_t = rate_limit(q_t, last, cfg.max_target_speed, dt)
        limit = np.asarray(spec.torque_limits)
        q_t, tau = torque_limit(q_t, state.q, state.dq, cmd, limit)
        q_t = power_limit(q_t, state.q, state.dq, tau, cfg.max_power)
        if not np.array_equal(q_t, cmd.q):
            self.clips += 1
        self._last_target, self._last_time = q_t, now
        return JointCommand(q=q_t, dq=cmd.dq, kp=cmd.kp, kd=cmd.kd,
                            tau=np.clip(cmd.tau, -limit, limit))

    def _trip(self, kind: str, detail: str) -> None:
        # Damping goes out first: the event and the log line (whose handlers may format,
        # write or capture for milliseconds) must not delay the motors.
        self.tripped = kind
        event = SafetyEvent(self.now(), kind, detail)
        self.damp()
        self.events.append(event)
        log.warning("safety trip: %s (%s)", kind, detail, extra={"safety_trip": kind})

    def rearm(self) -> None:
        """Clear a trip (an operator decision): commands reach the motors again."""
        if self.tripped:
            self.events.append(SafetyEvent(self.now(), "rearm", f"after {self.tripped}"))
        self.tripped = None
        self._last_target = None
        self._last_time = None

    def check(self) -> None:
        """Raise :class:`SafetyTrip` if tripped (for loops that stop on a trip)."""
        if self.tripped:
            raise SafetyTrip(f"safety layer tripped: {self.events[-1].kind}: "
                             f"{self.events[-1].detail}")


class TripTally(logging.Handler):
    """Counts the trips the safety layers log while attached: a run's one summary line.

    Attached to this module's logger, it also keeps the trips off the terminal when logging
    is not configured (Python prints a warning nobody handles on stderr); with logging
    configured (``quadmimic --verbose``), each trip is still printed by its handlers.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.kinds: Counter[str] = Counter()

    @classmethod
    def attach(cls) -> TripTally:
        """A new tally, counting from now on."""
        tally = cls()
        log.addHandler(tally)
        return tally

    def detach(self) -> None:
        """Stop counting."""
        log.removeHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        """Count a trip record."""
        kind = getattr(record, "safety_trip", None)
        if kind is not None:
            self.kinds[kind] += 1

    def summary(self) -> str | None:
        """``safety layer: N trips (kind n, ...)``, or None without a trip."""
        total = sum(self.kinds.values())
        if not total:
            return None
        kinds = ", ".join(f"{kind} {n}" for kind, n in self.kinds.most_common())
        return (f"safety layer: {total} trip{'s' if total > 1 else ''} ({kinds}); "
                "quadmimic --verbose prints each")
