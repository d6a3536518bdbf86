"""The Robot interface every backend implements, and the messages it exchanges.

Units are SI; joint arrays have 12 entries in the robot spec's order (FR, FL, RR, RL ×
abduction, hip, knee). A :class:`JointCommand` is Unitree's low-level command: per joint the
motor applies ``tau_ff + kp·(q − q_meas) + kd·(dq − dq_meas)``, limited by the motor.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np

from quadmimic.core.errors import RobotConnectionError
from quadmimic.core.geometry import quat_to_matrix, roll_pitch, yaw_of
from quadmimic.core.robots import RobotSpec
from robot_deploy.remote import RemoteState


class RobotMismatchError(RobotConnectionError):
    """A policy bundle made for another robot than the one a backend drives."""


def _vec(x: object, n: int, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64).reshape(-1)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have {n} values, got shape {arr.shape}")
    return arr


@dataclass(frozen=True)
class RobotState:
    """One reading of the robot's sensors.

    Attributes:
        q: (12,) joint angles (rad).
        dq: (12,) joint speeds (rad/s).
        tau: (12,) estimated joint torques (N·m).
        quat: (4,) body orientation quaternion xyzw (IMU; body frame x forward, z up).
        gyro: (3,) body angular velocity in the body frame (rad/s).
        accel: (3,) body acceleration in the body frame, gravity included (m/s²).
        foot_contact: (4,) feet on the ground, or None if the robot cannot tell.
        stamp: When the reading was taken (s, the backend's clock).
        remote: The wireless remote reported with this reading, or None if the robot has
            none (the sim).
    """

    q: np.ndarray
    dq: np.ndarray
    tau: np.ndarray
    quat: np.ndarray
    gyro: np.ndarray
    accel: np.ndarray
    stamp: float
    foot_contact: np.ndarray | None = None
    remote: RemoteState | None = None

    def __post_init__(self) -> None:
        """Check shapes (finite values are the safety layer's business)."""
        for name, n in (("q", 12), ("dq", 12), ("tau", 12), ("quat", 4), ("gyro", 3),
                        ("accel", 3)):
            object.__setattr__(self, name, _vec(getattr(self, name), n, name))

    @property
    def roll_pitch(self) -> np.ndarray:
        """Body roll and pitch (2,) rad from the quaternion (:func:`roll_pitch`)."""
        return roll_pitch(quat_to_matrix(self.quat))

    @property
    def yaw(self) -> float:
        """Body heading (rad) from the quaternion (the IMU's, which drifts slowly)."""
        return float(yaw_of(quat_to_matrix(self.quat)))

    @property
    def finite(self) -> bool:
        """All values finite."""
        return bool(all(np.all(np.isfinite(getattr(self, n)))
                        for n in ("q", "dq", "tau", "quat", "gyro", "accel")))


@dataclass(frozen=True)
class JointCommand:
    """A low-level command for the 12 motors (Unitree LowCmd semantics).

    Attributes:
        q: (12,) position targets (rad).
        dq: (12,) velocity targets (rad/s).
        kp: (12,) position gains (N·m/rad).
        kd: (12,) velocity gains (N·m·s/rad).
        tau: (12,) feed-forward torques (N·m).
    """

    q: np.ndarray
    dq: np.ndarray = field(default_factory=lambda: np.zeros(12))
    kp: np.ndarray = field(default_factory=lambda: np.zeros(12))
    kd: np.ndarray = field(default_factory=lambda: np.zeros(12))
    tau: np.ndarray = field(default_factory=lambda: np.zeros(12))

    def __post_init__(self) -> None:
        """Check shapes."""
        for name in ("q", "dq", "kp", "kd", "tau"):
            object.__setattr__(self, name, _vec(getattr(self, name), 12, name))

    @property
    def finite(self) -> bool:
        """All values finite."""
        return bool(all(np.all(np.isfinite(getattr(self, n)))
                        for n in ("q", "dq", "kp", "kd", "tau")))

    @classmethod
    def damping(cls, kd: float | np.ndarray) -> JointCommand:
        """Damping mode: no position gain, no torque, velocity damping toward zero."""
        return cls(q=np.zeros(12), kd=np.broadcast_to(np.asarray(kd, float), (12,)))

    @classmethod
    def position(cls, q: np.ndarray, spec: RobotSpec, gain_scale: float = 1.0) -> JointCommand:
        """Position control toward ``q`` with the spec's PD gains (times ``gain_scale``)."""
        return cls(q=q, kp=np.asarray(spec.kp) * gain_scale, kd=np.asarray(spec.kd))


class Robot(abc.ABC):
    """A quadruped that can be read and commanded (hardware, emulator or simulation)."""

    spec: RobotSpec

    @abc.abstractmethod
    def connect(self, timeout: float = 5.0) -> None:
        """Open the connection; returns once a first valid state has arrived.

        Raises:
            RobotConnectionError: No valid state within ``timeout`` seconds.
        """

    @abc.abstractmethod
    def read(self) -> RobotState:
        """The newest state (does not block)."""

    @abc.abstractmethod
    def command(self, cmd: JointCommand) -> None:
        """Send one command (the robot keeps applying it until the next)."""

    def damp(self) -> None:
        """Damping mode: the safe way to stop (joints go limp with velocity damping)."""
        self.command(JointCommand.damping(np.asarray(self.spec.kd) * 2.0))

    @abc.abstractmethod
    def close(self) -> None:
        """Release the connection (idempotent)."""

    def now(self) -> float:
        """The backend's clock (s): wall time for hardware, simulated time for a sim."""
        import time

        return time.monotonic()

    def __enter__(self) -> Robot:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RobotWrapper(Robot):
    """A robot wrapping another one: everything passes through unless a subclass overrides it.

    The safety layer, sensor noise, the dry run and the transfer bench's shoves are wrappers,
    each itself a :class:`Robot`, so they stack in any order.

    Args:
        inner: The robot wrapped.
    """

    def __init__(self, inner: Robot) -> None:
        self.inner = inner
        self.spec = inner.spec

    def connect(self, timeout: float = 5.0) -> None:
        """Connect the inner robot."""
        self.inner.connect(timeout)

    def read(self) -> RobotState:
        """The inner robot's state."""
        return self.inner.read()

    def command(self, cmd: JointCommand) -> None:
        """Send the command to the inner robot."""
        self.inner.command(cmd)

    def damp(self) -> None:
        """The inner robot's damping mode."""
        self.inner.damp()

    def close(self) -> None:
        """Close the inner robot."""
        self.inner.close()

    def now(self) -> float:
        """The inner robot's clock (s)."""
        return self.inner.now()
