"""The robot spec: everything every stage needs to know about one robot, in one frozen record.

Joint order everywhere in this project is the motion_imitation order: legs FR, FL, RR, RL, each
(hip abduction, hip flexion, knee). The spec maps that order onto the URDF's joint names, so
URDFs with another order (example-robot-data's is FL, FR, RL, RR) need no other adapter.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from quadmimic.core.errors import RobotSpecError
from quadmimic.core.robots.actuator import ActuatorConfig

LEG_NAMES: tuple[str, ...] = ("FR", "FL", "RR", "RL")
"""Leg order of every per-leg array in this project."""

NUM_JOINTS = 12
"""Actuated joints: 4 legs × (abduction, hip, knee)."""


def _site_packages_of(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise RobotSpecError(f"python package {module!r} is not installed; `pip install` it")
    return Path(spec.origin).parent


@dataclass(frozen=True)
class RobotSpec:
    """A quadruped: URDF, joint order and limits, default pose, PD gains and feet.

    All per-joint tuples have 12 entries in the order FR, FL, RR, RL × (abduction, hip, knee);
    all per-foot tuples have 4 entries in the order FR, FL, RR, RL.
    """

    name: str
    """Short lower-case name used on the command line (``--robot NAME``)."""
    urdf_source: str
    """Where the URDF ships: ``"pybullet_data"`` or ``"example-robot-data"`` (both wheels)."""
    urdf_relpath: str
    """Path of the URDF inside that source, e.g. ``"a1/a1.urdf"``."""
    joint_names: tuple[str, ...]
    """URDF names of the 12 actuated joints, in project order."""
    foot_links: tuple[str, ...]
    """URDF link names of the 4 feet (the link frame is the foot sphere's centre)."""
    foot_radius: float
    """Radius of the foot's contact sphere (m): the foot centre is this high when touching."""
    joint_lower: tuple[float, ...]
    """Lower joint position limits (rad)."""
    joint_upper: tuple[float, ...]
    """Upper joint position limits (rad)."""
    velocity_limits: tuple[float, ...]
    """Joint speed limits (rad/s)."""
    torque_limits: tuple[float, ...]
    """Motor torque limits (N·m)."""
    default_pose: tuple[float, ...]
    """Standing joint angles (rad): the posture target, the reset pose and the ramp target."""
    kp: tuple[float, ...]
    """Joint PD position gains (N·m/rad)."""
    kd: tuple[float, ...]
    """Joint PD velocity gains (N·m·s/rad)."""
    mass: float
    """Total mass in the URDF (kg); checked against the URDF by the tests."""
    base_rotation_offset: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0)
    """Quaternion xyzw of the URDF base frame in a body frame with x forward, y left, z up.

    Identity for URDFs whose base is already x-forward z-up. Motion files store the URDF base
    orientation, i.e. ``body_orientation * base_rotation_offset`` (Laikago's is (.5,.5,.5,.5)).
    """
    ground_contact_links: tuple[str, ...] = ()
    """Links besides the feet that may touch the ground without it being a fall (e.g. a
    shank whose collision shape reaches the foot)."""
    notes: str = field(default="", compare=False)
    """Where the numbers come from."""
    actuator: ActuatorConfig = field(default_factory=lambda: ActuatorConfig(
        source="defaults (Go2's figures), ASSUMED"))
    """Motor figures the URDF lacks (armature, damping, friction, torque–speed curve), read by
    both physics engines; default: Go2's figures."""
    legged_sdk_type: str | None = None
    """The robot's ``LeggedType`` in Unitree's legged SDK 3.8 (``"Go1"``, ``"A1"``): the
    go1-udp backend drives it and uses that type's SDK safety tables; None: the go1-udp
    backend does not drive this robot."""

    def __post_init__(self) -> None:
        """Check lengths and that limits, gains and the default pose are consistent."""
        for attr in ("joint_names", "joint_lower", "joint_upper", "velocity_limits",
                     "torque_limits", "default_pose", "kp", "kd"):
            if len(getattr(self, attr)) != NUM_JOINTS:
                raise RobotSpecError(f"robot {self.name!r}: {attr} needs {NUM_JOINTS} entries")
        if len(self.foot_links) != len(LEG_NAMES):
            raise RobotSpecError(f"robot {self.name!r}: foot_links needs 4 entries")
        lo, hi, q0 = (np.asarray(x) for x in (self.joint_lower, self.joint_upper,
                                                self.default_pose))
        if np.any(lo >= hi) or np.any(q0 < lo) or np.any(q0 > hi):
            raise RobotSpecError(f"robot {self.name!r}: default pose outside its joint limits")
        if min(self.kp) <= 0 or min(self.kd) < 0 or min(self.torque_limits) <= 0:
            raise RobotSpecError(f"robot {self.name!r}: gains and torque limits must be > 0")
        quat = np.asarray(self.base_rotation_offset)
        if quat.shape != (4,) or abs(np.linalg.norm(quat) - 1.0) > 1e-9:
            raise RobotSpecError(f"robot {self.name!r}: base_rotation_offset is not a unit quat")

    @property
    def urdf_path(self) -> Path:
        """Absolute path of the URDF (as shipped; mesh paths may be ``package://`` URIs)."""
        if self.urdf_source == "pybullet_data":
            root = _site_packages_of("pybullet_data")
        elif self.urdf_source == "example-robot-data":
            pin_dir = _site_packages_of("pinocchio")
            prefix = next((p for p in pin_dir.parents if p.name == "cmeel.prefix"), None)
            if prefix is None:
                raise RobotSpecError("example-robot-data: no cmeel.prefix above pinocchio")
            root = prefix / "share" / "example-robot-data" / "robots"
        else:
            raise RobotSpecError(f"robot {self.name!r}: unknown urdf_source {self.urdf_source!r}")
        path = root / self.urdf_relpath
        if not path.is_file():
            raise RobotSpecError(f"robot {self.name!r}: URDF not found at {path}")
        return path

    def resolved_urdf_path(self) -> Path:
        """A URDF for PyBullet: absolute mesh paths, and no COLLADA (``.dae``) visuals.

        PyBullet resolves no ``package://`` URIs, and parses COLLADA slowly (Go1's visuals
        took 3.3 of its 3.6 s load); visuals never touch the physics. Returns the shipped URDF
        when neither applies, else a cached rewritten copy in the temporary folder.
        """
        path = self.urdf_path
        text = path.read_text()
        if "package://" not in text and ".dae" not in text and _fix_inertias(text) == text:
            return path
        return _resolved_copy(str(path), self.name)

    def visual_urdf_path(self) -> Path:
        """A URDF for rendering: like :meth:`resolved_urdf_path`, with every visual kept.

        COLLADA meshes included: slow to parse, so only previews load this one.
        """
        path = self.urdf_path
        text = path.read_text()
        if "package://" not in text and _fix_inertias(text) == text:
            return path
        return _resolved_copy(str(path), self.name, keep_visuals=True)

    @property
    def lower(self) -> np.ndarray:
        """Lower joint limits (12,) rad as an array."""
        return np.asarray(self.joint_lower, dtype=np.float64)

    @property
    def upper(self) -> np.ndarray:
        """Upper joint limits (12,) rad as an array."""
        return np.asarray(self.joint_upper, dtype=np.float64)

    @property
    def velocity_limits_array(self) -> np.ndarray:
        """Joint speed limits (12,) rad/s as an array."""
        return np.asarray(self.velocity_limits, dtype=np.float64)

    @property
    def default(self) -> np.ndarray:
        """Default standing pose (12,) rad as an array."""
        return np.asarray(self.default_pose, dtype=np.float64)


_INERTIA = re.compile(r"<inertia\s+([^/>]*)/>")


def _fix_inertias(text: str) -> str:
    """Zero the products of inertia of tensors that are not positive definite.

    Go1's URDF base is a dummy link with ixx = ixy = ... = 1e-6, which is not a valid tensor;
    PyBullet then sets that link's inertia to zero (with a warning).
    """

    def fix(m: re.Match[str]) -> str:
        attrs = dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', m.group(1)))
        try:
            v = {k: float(attrs[k]) for k in ("ixx", "ixy", "ixz", "iyy", "iyz", "izz")}
        except (KeyError, ValueError):
            return m.group(0)
        tensor = np.array([[v["ixx"], v["ixy"], v["ixz"]], [v["ixy"], v["iyy"], v["iyz"]],
                           [v["ixz"], v["iyz"], v["izz"]]])
        if np.all(np.linalg.eigvalsh(tensor) > 0):
            return m.group(0)
        return (f'<inertia ixx="{v["ixx"]}" ixy="0" ixz="0" iyy="{v["iyy"]}" iyz="0" '
                f'izz="{v["izz"]}"/>')

    return _INERTIA.sub(fix, text)


@functools.cache
def _resolved_copy(urdf: str, name: str, keep_visuals: bool = False) -> Path:
    path = Path(urdf)
    # example-robot-data's URIs read package://example-robot-data/robots/<robot>/...
    robots_dir = path.parents[2]
    text = re.sub(r"package://example-robot-data/robots/", f"{robots_dir.as_posix()}/",
                  path.read_text())
    text = re.sub(r"package://[^/\"]+/", f"{path.parents[1].as_posix()}/", text)
    if not keep_visuals:
        text = re.sub(r"<visual\b.*?</visual>",
                      lambda m: "" if ".dae" in m.group(0) else m.group(0), text, flags=re.S)
    text = _fix_inertias(text)
    # The copy lives elsewhere: relative mesh paths become absolute.
    text = re.sub(r'filename="(?!/)([^"]+)"',
                  lambda m: f'filename="{(path.parent / m.group(1)).as_posix()}"', text)
    suffix = "_visual" if keep_visuals else ""
    out = Path(tempfile.gettempdir()) / "quadmimic_urdf" / f"{name}{suffix}_{path.name}"
    out.parent.mkdir(parents=True, exist_ok=True)
    # A unique temp file per writer: env worker processes starting together on a machine
    # without the cached copy each write it (one shared ".tmp" name raced: one process's
    # rename took the file another was about to rename).
    from quadmimic.core.fileio import atomic_write_text

    return atomic_write_text(out, text)
