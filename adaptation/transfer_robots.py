"""The transfer bench's robots under test: the nominal ones, the held-out file, their backends.

A :class:`TransferRobot` is a physics engine (PyBullet ``sim`` or ``mujoco``), dynamics, sensor
noise, a torque–speed scale and MuJoCo contact settings. :func:`nominal_robots` are PyBullet and
MuJoCo at nominal dynamics; :func:`load_held_out` reads the held-out MuJoCo robots of a file
(``data/dynamics/held_out_mujoco.json``); :func:`build_backend` builds a robot's simulated
backend through the backend registry (:func:`robot_deploy.backends.make_backend`).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quadmimic.core.errors import DynamicsError, QuadmimicError
from quadmimic.core.robots import get_robot
from robot_deploy.backends import SIMULATED, Connection, make_backend
from sim_training.dynamics import DYNAMICS_KEYS, NOMINAL, dynamics_from
from sim_training.noise import SensorNoise
from sim_training.randomization import RandomizationRanges

if TYPE_CHECKING:
    from robot_deploy.backends.mujoco import MujocoBackend
    from robot_deploy.backends.sim import SimBackend

NOMINAL_ROBOTS: tuple[str, ...] = ("pybullet_nominal", "mujoco_nominal")
"""Names of the two nominal test robots (PyBullet and MuJoCo at nominal dynamics)."""

ROBOT_KEYS: tuple[str, ...] = ("name", "note", "dynamics", "sensor_noise", "torque_speed",
                               "contact")
"""Keys of one held-out robot in a held-out file."""

FILE_KEYS: tuple[str, ...] = ("description", "robots")
"""Top-level keys of a held-out file."""


class TransferBenchError(QuadmimicError):
    """The transfer benchmark cannot run with these options (no bundle, unknown robot...)."""


@dataclass(frozen=True)
class TransferRobot:
    """One test robot: a physics engine, dynamics, sensor noise and motor speed."""

    name: str
    """Name (a row of the table)."""
    engine: str = "mujoco"
    """Simulated backend: ``sim`` (PyBullet) or ``mujoco``."""
    dynamics: dict[str, float] = field(default_factory=lambda: dict(NOMINAL))
    """Complete dynamics dict (:mod:`sim_training.dynamics`)."""
    sensor_noise: SensorNoise = field(default_factory=SensorNoise)
    """Gaussian noise on every reading (:class:`~sim_training.noise.SensorNoise`)."""
    torque_speed: float = 1.0
    """Scale of the actuator's no-load and knee speeds of the torque–speed curve (MuJoCo)."""
    note: str = ""
    """What the robot stands for."""
    contact: dict[str, Any] = field(default_factory=dict)
    """MuJoCo contact and solver settings (fields of
    :class:`~robot_deploy.mujoco_model.ContactModel`); empty = the project's."""
    held_out: bool = False
    """From a held-out file (adaptation is run on it) rather than a nominal robot."""


def nominal_robots() -> list[TransferRobot]:
    """PyBullet and MuJoCo at nominal dynamics (:data:`NOMINAL_ROBOTS`)."""
    return [TransferRobot("pybullet_nominal", "sim", note="training engine, nominal dynamics"),
            TransferRobot("mujoco_nominal", "mujoco", note="second engine, nominal dynamics")]


def _number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def load_held_out(path: str | Path) -> list[TransferRobot]:
    """The held-out MuJoCo robots of a file.

    The file is a JSON object ``{"description": str, "robots": [...]}``; each robot is an
    object with ``name`` (unique), optional ``note``, ``dynamics`` (keys of
    :data:`~sim_training.dynamics.DYNAMICS_KEYS`, missing keys nominal), ``sensor_noise``
    (fields of :class:`~sim_training.noise.SensorNoise`: std of joint angle rad, joint speed
    rad/s, gyro rad/s, roll/pitch rad), ``torque_speed`` (scale of the actuator's speeds,
    > 0, default 1) and ``contact`` (fields of :class:`~robot_deploy.mujoco_model.
    ContactModel`: ``solref``, ``solimp``, ``cone``, ``impratio``, ``foot_radius_scale``,
    ``physics_hz``).

    Raises:
        DynamicsError: Unreadable file, unknown key, wrong type or impossible value (one line,
            naming the file and the robot).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise DynamicsError(f"cannot read held-out robot file: {exc.strerror}", path) from exc
    except json.JSONDecodeError as exc:
        raise DynamicsError(f"not valid JSON: {exc.msg}", path, exc.lineno) from exc
    if not isinstance(data, dict) or not isinstance(data.get("robots"), list):
        raise DynamicsError('a held-out robot file holds {"robots": [...]}', path)
    if unknown := sorted(set(data) - set(FILE_KEYS)):
        raise DynamicsError(f"unknown key {unknown[0]!r}; known keys: {', '.join(FILE_KEYS)}",
                            path)
    robots: list[TransferRobot] = []
    for k, item in enumerate(data["robots"]):
        if not isinstance(item, dict):
            raise DynamicsError(f"robot {k} must be a JSON object", path)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise DynamicsError(f"robot {k} needs a non-empty string 'name'", path)
        where = f"robot {name!r}"
        if unknown := sorted(set(item) - set(ROBOT_KEYS)):
            raise DynamicsError(f"{where}: unknown key {unknown[0]!r}; known keys: "
                                f"{', '.join(ROBOT_KEYS)}", path)
        if name in NOMINAL_ROBOTS or name in {r.name for r in robots}:
            raise DynamicsError(f"{where}: the name is taken", path)
        dyn = item.get("dynamics", {})
        if not isinstance(dyn, dict):
            raise DynamicsError(f"{where}: dynamics must be a JSON object", path)
        dynamics = dynamics_from(dyn, source=f"{path}: {where}")
        noise_raw = _fields_of(SensorNoise, item.get("sensor_noise", {}), "sensor_noise", where,
                               path)
        try:
            noise = SensorNoise(**noise_raw)
        except ValueError as exc:
            raise DynamicsError(f"{where}: {exc}", path) from exc
        speed = item.get("torque_speed", 1.0)
        if not _number(speed) or not math.isfinite(speed) or not 0.0 < speed <= 5.0:
            raise DynamicsError(f"{where}: torque_speed must be a number in (0, 5], "
                                f"got {speed!r}", path)
        note = item.get("note", "")
        if not isinstance(note, str):
            raise DynamicsError(f"{where}: note must be a string", path)
        contact = _contact_settings(item.get("contact", {}), where, path)
        robots.append(TransferRobot(name, "mujoco", dynamics, noise, float(speed), note,
                                    contact, held_out=True))
    if not robots:
        raise DynamicsError("the file defines no robot", path)
    return robots


def _fields_of(cls: type, raw: object, what: str, where: str, path: Path) -> dict[str, Any]:
    """A held-out robot's ``what`` object, whose keys must be fields of the dataclass ``cls``.

    Raises:
        DynamicsError: Not a JSON object, or an unknown key (naming the known ones).
    """
    if not isinstance(raw, dict):
        raise DynamicsError(f"{where}: {what} must be a JSON object", path)
    known = [f.name for f in dataclasses.fields(cls)]
    if unknown := sorted(set(raw) - set(known)):
        raise DynamicsError(f"{where}: unknown {what} key {unknown[0]!r}; known keys: "
                            f"{', '.join(known)}", path)
    return raw


def _contact_settings(raw: object, where: str, path: Path) -> dict[str, Any]:
    """A held-out robot's ``contact`` object, checked by building the contact model."""
    from robot_deploy.mujoco_model import ContactModel

    raw = _fields_of(ContactModel, raw, "contact", where, path)
    settings = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
    try:
        ContactModel(**settings)
    except (ValueError, TypeError) as exc:
        raise DynamicsError(f"{where}: contact: {exc}", path) from exc
    return settings


def outside_ranges(dynamics: dict[str, float],
                   ranges: RandomizationRanges | None = None) -> dict[str, dict[str, Any]]:
    """The dynamics keys whose value lies outside the training ranges.

    Args:
        dynamics: A (complete or partial) dynamics dict.
        ranges: Training ranges (default: :class:`RandomizationRanges` defaults).

    Returns:
        Key → ``{"value", "trained": [low, high]}`` for every key outside its range.
    """
    ranges = ranges or RandomizationRanges()
    out = {}
    for key in DYNAMICS_KEYS:
        if key not in dynamics:
            continue
        lo, hi = getattr(ranges, key)
        if not lo <= dynamics[key] <= hi:
            out[key] = {"value": dynamics[key], "trained": [lo, hi]}
    return out


def robot_summary(robot: TransferRobot) -> dict[str, Any]:
    """A test robot as JSON (non-nominal dynamics only; what lies outside training)."""
    return {"engine": robot.engine, "held_out": robot.held_out, "note": robot.note,
            "dynamics": {k: v for k, v in robot.dynamics.items() if v != NOMINAL[k]},
            "sensor_noise": dataclasses.asdict(robot.sensor_noise),
            "torque_speed": robot.torque_speed,
            "contact": {k: list(v) if isinstance(v, tuple) else v
                        for k, v in robot.contact.items()},
            "outside_training_ranges": outside_ranges(robot.dynamics),
            "beyond_training_also": [x for x, on in (
                ("sensor_noise (bundles trained without EnvConfig.sensor_noise)",
                 not robot.sensor_noise.silent),
                ("torque_speed (training: no torque-speed curve)", robot.torque_speed < 1.0))
                if on]}


def select_robots(held_out: Sequence[TransferRobot], names: Sequence[str] | None
                  ) -> list[TransferRobot]:
    """Nominal and held-out robots, all or those named (in the given order).

    Raises:
        TransferBenchError: An unknown name.
    """
    every = {r.name: r for r in (*nominal_robots(), *held_out)}
    if not names:
        return list(every.values())
    if unknown := [n for n in names if n not in every]:
        raise TransferBenchError(f"unknown robot {unknown[0]!r}; available: "
                                 f"{', '.join(every)}")
    return [every[n] for n in names]


def build_backend(robot: TransferRobot, spec_name: str) -> SimBackend | MujocoBackend:
    """The lockstep simulated backend of a test robot (not yet connected), from the registry.

    Raises:
        TransferBenchError: An engine other than ``sim``/``mujoco``, or a torque–speed scale
            or contact settings on PyBullet (it has neither).
    """
    if robot.engine not in SIMULATED:
        raise TransferBenchError(f"robot {robot.name!r}: unknown engine {robot.engine!r}")
    engine: dict[str, Any] = {}
    if robot.engine == "sim" and (robot.torque_speed != 1.0 or robot.contact):
        raise TransferBenchError(f"robot {robot.name!r}: the PyBullet test robot has no "
                                 "torque-speed curve or MuJoCo contact settings")
    if robot.engine == "mujoco":
        from robot_deploy.mujoco_model import ContactModel

        spec = get_robot(spec_name)
        act = spec.actuator
        if robot.torque_speed != 1.0:
            speeds = act.max_speed_array(spec)[:3] * robot.torque_speed
            act = dataclasses.replace(act, max_speed=tuple(float(s) for s in speeds))
        engine = {"actuator": act, "contact": ContactModel(**robot.contact)}
    return make_backend(Connection(robot.engine), spec_name, dynamics=robot.dynamics,
                        realtime=False, **engine)  # type: ignore[return-value]


__all__ = ["FILE_KEYS", "NOMINAL_ROBOTS", "ROBOT_KEYS", "TransferBenchError", "TransferRobot",
           "build_backend", "load_held_out", "nominal_robots", "outside_ranges",
           "robot_summary", "select_robots"]
