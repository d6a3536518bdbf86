"""MuJoCo models of the robot specs, built at run time from the URDFs the project already uses.

A second physics engine judges sim-to-sim transfer: a policy trained in PyBullet
(:mod:`sim_training.robot_sim`) should also stand and walk here. :func:`build_model` turns a
spec's URDF (``pybullet_data`` / ``example-robot-data``, nothing downloaded) into an
``mujoco.MjModel`` through ``mujoco.MjSpec``:

* floating base: a free joint on the URDF root link, so the free body's frame is the URDF base
  frame (the frame of motion files, pinocchio and :class:`~sim_training.robot_sim.SimRobot`);
  links fixed to it (Go1's trunk under its dummy base) are fused into it;
* collision geometry only: visuals are dropped before parsing;
* feet: every foot link's collision shapes are replaced by one sphere of ``spec.foot_radius``
  at the foot link frame. A1, Go1 and Laikago already have such spheres in their URDFs; Go2's
  URDF foot is a convex mesh, and Unitree's own Go2 MuJoCo model (``unitree_mujoco``, and
  DeepMind's menagerie) uses a 0.022 m sphere instead. Sphere feet are also what the PyBullet
  training saw (its contact model rounds the mesh), and a meshed-foot model tripped a policy
  in a measurement, so spheres are the deliberate choice;
* a ground plane named ``floor`` (friction 1, as PyBullet's plane) and no self-collisions (as
  PyBullet's default ``loadURDF``);
* 12 ``motor`` actuators (gear 1, unlimited: the torque law, its limits and the latency are
  :class:`UnitreeMotors`' business, computed every physics step);
* the rotor armature, joint damping and dry friction that PyBullet's URDFs lack, from
  :class:`ActuatorConfig`.

MuJoCo-specific choices: ``implicitfast`` integrator, elliptic friction cones with
``impratio`` 100 (both as Unitree's and the menagerie's Unitree models), default contact
softness, and a time step of ``1/physics_hz`` with ``physics_hz`` ≥ 1 kHz.

The contact softness is where the two engines differ most for a policy, measured: the first
shipped ``go2_backwards_trot`` (trained in PyBullet only) rolls over 0.6 s after its start at
MuJoCo's default ``solref`` (0.02 s time constant), and walks 8.8–9.2 m backwards in 10 s
with a time constant of 0.003–0.004 s (0.005: trips at 1.05 s). Friction is not it
(``noslip_iterations`` 20 changes nothing), nor the actuator properties (armature, damping,
dry friction and the torque–speed curve removed one by one or together: still trips), nor
softness as such (PyBullet with a contact stiffness of 1e3–1e5 N/m, critically damped, sinks
the robot 2 cm and it still walks). The judge keeps MuJoCo's defaults: Unitree's feet are
rubber, and the menagerie's Go1/Go2 soften their foot contacts further to approximate it.
What fixed it was on the policy's side: that policy chattered (a quarter of its action
components at ±1, a mean change of 0.85 per component per 33 ms policy step); trained further
in PyBullet with the reward's ``action_rate`` term (weight 0.25) the change fell to 0.20 and
every checkpoint from 0.2 M samples on walks 10 s at the default contact (the shipped one).

Dynamics keys (:mod:`sim_training.dynamics`) are applied where MuJoCo has the quantity:
masses and inertias (base body / other links, as in PyBullet), foot friction (feet win the
friction of their contacts with the floor by ``priority``), joint friction (added to every
joint's ``frictionloss``) and the ground slope (the floor plane turned about the world y axis,
exactly as PyBullet turns its plane). ``kp_scale``, ``kd_scale``, ``motor_strength_scale`` and
``latency_s`` belong to the motors: :class:`UnitreeMotors`. ``restitution`` is ignored: MuJoCo
contacts are soft constraints with no coefficient of restitution (a bounce could only be
imitated through ``solref`` damping, which would change every contact, not only impacts).
"""

from __future__ import annotations

import collections
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import mujoco
import numpy as np

from quadmimic.core.errors import RobotSpecError
from quadmimic.core.robots import RobotSpec, get_robot
from quadmimic.core.robots.actuator import ActuatorConfig, actuator_config, torque_speed_limit
from sim_training.dynamics import dynamics_from

FLOOR = "floor"
"""Name of the ground plane geom."""

FLOOR_FRICTION = 1.0
"""Sliding friction of the floor (PyBullet's plane has 1.0; the feet's own value wins)."""

MIN_PHYSICS_HZ = 1000.0
"""Slowest physics rate accepted: the PD law runs explicitly once per step."""

_ROBOT_GROUP, _FLOOR_GROUP = 2, 1  # contype/conaffinity bits: robot↔floor, never robot↔robot


# ----------------------------------------------------------------------------- the model
_MUJOCO_EXTENSION = ('<mujoco><compiler strippath="false" discardvisual="true" '
                     'fusestatic="true" balanceinertia="true" meshdir="{meshdir}"/></mujoco>')


@dataclass(frozen=True)
class ContactModel:
    """MuJoCo's contact and solver settings, which a held-out robot may change.

    Other ground, other feet, other solver: no single contact model is what a policy is
    judged on. The defaults are the project's model (module docstring); a variant changes
    one or more.
    """

    solref: tuple[float, float] | None = None
    """Foot–floor ``solref`` (time constant s, damping ratio); None = MuJoCo's (0.02, 1)."""
    solimp: tuple[float, float, float, float, float] | None = None
    """Foot–floor ``solimp`` (d0, dwidth, width m, midpoint, power); None = MuJoCo's."""
    cone: str = "elliptic"
    """Friction cone: ``elliptic`` or ``pyramidal``."""
    impratio: float = 100.0
    """Ratio of frictional to normal constraint impedance (elliptic cones)."""
    foot_radius_scale: float = 1.0
    """× the spec's foot sphere radius (other feet, worn rubber)."""
    physics_hz: float | None = None
    """Physics rate (Hz, ≥ :data:`MIN_PHYSICS_HZ`) instead of the backend's; None = it."""

    def __post_init__(self) -> None:
        """Check ranges (ValueError)."""
        if self.solref is not None and (len(self.solref) != 2 or self.solref[0] <= 0
                                        or self.solref[1] <= 0):
            raise ValueError("solref needs (time constant > 0, damping ratio > 0)")
        if self.solimp is not None and (len(self.solimp) != 5
                                        or not 0 < self.solimp[0] <= self.solimp[1] < 1
                                        or self.solimp[2] <= 0):
            raise ValueError("solimp needs (d0, dwidth, width, midpoint, power) with "
                             "0 < d0 <= dwidth < 1 and width > 0")
        if self.cone not in ("elliptic", "pyramidal"):
            raise ValueError(f"cone must be elliptic or pyramidal, got {self.cone!r}")
        if not self.impratio >= 1.0:
            raise ValueError("impratio must be >= 1")
        if not 0.5 <= self.foot_radius_scale <= 2.0:
            raise ValueError("foot_radius_scale must be in [0.5, 2]")
        if self.physics_hz is not None and not (
                MIN_PHYSICS_HZ <= self.physics_hz <= 20_000.0):
            raise ValueError(f"physics_hz must be in [{MIN_PHYSICS_HZ:g}, 20000]")

    @property
    def nominal(self) -> bool:
        """The project's own contact model."""
        return self == ContactModel()


@functools.cache
def _urdf_text(spec: RobotSpec) -> str:
    """The spec's URDF for MuJoCo: absolute mesh paths, no visuals, MuJoCo compiler options."""
    path = spec.resolved_urdf_path()
    text = re.sub(r"<visual\b.*?</visual>", "", path.read_text(), flags=re.S)
    extension = _MUJOCO_EXTENSION.format(meshdir=Path(path).parent.as_posix())
    text, found = re.subn(r"(<robot\b[^>]*>)", lambda m: m.group(1) + extension, text, count=1)
    if not found:
        raise RobotSpecError(f"robot {spec.name!r}: no <robot> element in its URDF")
    return text


def _fill_missing_inertias(mj: mujoco.MjSpec) -> None:
    """Give links with mass but an all-zero URDF inertia (Laikago's) one from their geoms.

    The inertia is the collision geometry's (MuJoCo's ``inertiafromgeom``) scaled to the URDF
    mass; the URDF centre of mass is kept. PyBullet treats such links as having an infinite
    rotational inertia, so neither engine is faithful there.
    """
    empty = [b.name for b in mj.bodies[1:] if b.mass > 0 and not np.any(b.inertia)
             and np.isnan(b.fullinertia[0])]
    if not empty:
        return
    probe = mj.copy()
    probe.compiler.inertiafromgeom = mujoco.mjtInertiaFromGeom.mjINERTIAFROMGEOM_TRUE
    probe.worldbody.first_body().add_freejoint()
    model = probe.compile()
    for name in empty:
        b = model.body(name)
        body = mj.body(name)
        body.inertia = b.inertia * (body.mass / max(float(b.mass[0]), 1e-9))
        body.iquat = b.iquat


def build_model(
    spec_or_name: RobotSpec | str,
    dynamics: Mapping[str, float] | str | Path | None = None,
    *,
    physics_hz: float = 1000.0,
    actuator: ActuatorConfig | None = None,
    contact: ContactModel | None = None,
) -> mujoco.MjModel:
    """A MuJoCo model of a robot on a ground plane, from the spec's URDF.

    Args:
        spec_or_name: Robot spec or name.
        dynamics: Dynamics params (dict or JSON file; missing keys nominal). The keys MuJoCo
            models are applied here (see the module docstring); the motor keys are
            :class:`UnitreeMotors`' business.
        physics_hz: Physics rate (Hz), at least :data:`MIN_PHYSICS_HZ`.
        actuator: Armature, damping, friction and torque–speed figures; None = the robot's
            entry in :mod:`quadmimic.core.robots.actuator`.
        contact: Contact and solver settings; None = the project's (:class:`ContactModel`).

    Returns:
        The compiled model: a free joint, then the 12 spec joints; actuators in project order,
        named like the joints; one sphere geom per foot, named like the foot link.

    Raises:
        RobotSpecError: The URDF cannot be turned into a MuJoCo model.
        ValueError: ``physics_hz`` below :data:`MIN_PHYSICS_HZ`.
    """
    spec = spec_or_name if isinstance(spec_or_name, RobotSpec) else get_robot(spec_or_name)
    if physics_hz < MIN_PHYSICS_HZ:
        raise ValueError(f"physics_hz must be ≥ {MIN_PHYSICS_HZ:g}, got {physics_hz:g}")
    act = actuator if actuator is not None else actuator_config(spec)
    try:
        mj = mujoco.MjSpec.from_string(_urdf_text(spec))
    except ValueError as exc:
        raise RobotSpecError(f"robot {spec.name!r}: MuJoCo cannot parse its URDF: {exc}") from exc
    mj.modelname = spec.name
    mj.option.timestep = 1.0 / physics_hz
    mj.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    contact = contact or ContactModel()
    mj.option.cone = (mujoco.mjtCone.mjCONE_ELLIPTIC if contact.cone == "elliptic"
                      else mujoco.mjtCone.mjCONE_PYRAMIDAL)
    mj.option.impratio = contact.impratio
    mj.option.gravity = [0.0, 0.0, -9.81]
    _fill_missing_inertias(mj)

    root = mj.worldbody.first_body()
    root.add_freejoint(name="root")
    for geom in mj.geoms:
        geom.contype, geom.conaffinity = _ROBOT_GROUP, _FLOOR_GROUP
        geom.condim = 3
    feet = [mj.body(name) for name in spec.foot_links]  # None when missing
    joints = [mj.joint(name) for name in spec.joint_names]
    missing = [n for n, x in zip(spec.foot_links + spec.joint_names, feet + joints, strict=True)
               if x is None]
    if missing:
        raise RobotSpecError(f"robot {spec.name!r}: no {', '.join(missing)} in its URDF")
    for body, name in zip(feet, spec.foot_links, strict=True):
        for geom in list(body.geoms):
            mj.delete(geom)
        foot = body.add_geom(name=name, type=mujoco.mjtGeom.mjGEOM_SPHERE,
                             size=[spec.foot_radius * contact.foot_radius_scale, 0.0, 0.0],
                             contype=_ROBOT_GROUP, conaffinity=_FLOOR_GROUP, condim=3,
                             priority=1, friction=[1.0, 0.005, 0.0001])
        if contact.solref is not None:
            foot.solref = list(contact.solref)
        if contact.solimp is not None:
            foot.solimp = list(contact.solimp)
    mj.worldbody.add_geom(name=FLOOR, type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0.0, 0.0, 0.05],
                          contype=_FLOOR_GROUP, conaffinity=_ROBOT_GROUP, condim=3,
                          friction=[FLOOR_FRICTION, 0.005, 0.0001])
    armature = act.armature_array()
    for k, joint in enumerate(joints):
        joint.armature = armature[k]
        joint.damping = [act.damping, 0.0, 0.0]  # linear term (then polynomial ones)
        joint.frictionloss = act.frictionloss
        joint.actfrclimited = mujoco.mjtLimited.mjLIMITED_FALSE  # the motor law limits
        mj.add_actuator(name=joint.name, target=joint.name,
                        trntype=mujoco.mjtTrn.mjTRN_JOINT, gear=[1.0, 0, 0, 0, 0, 0],
                        ctrllimited=mujoco.mjtLimited.mjLIMITED_FALSE)
    try:
        model = mj.compile()
    except ValueError as exc:
        raise RobotSpecError(f"robot {spec.name!r}: MuJoCo cannot compile it: {exc}") from exc
    apply_model_dynamics(model, spec, dynamics_from(dynamics), act)
    return model


def apply_model_dynamics(model: mujoco.MjModel, spec: RobotSpec, params: Mapping[str, float],
                         actuator: ActuatorConfig) -> None:
    """Apply the model-side dynamics keys to a freshly compiled (nominal) model, in place.

    Scales are relative to the values in ``model``: call this once, on a nominal model (as
    :func:`build_model` does); to change dynamics later, build a new model.
    """
    d = dynamics_from(dict(params))
    idx = ModelIndex.of(model, spec)
    for body in range(1, model.nbody):
        scale = d["base_mass_scale"] if body == idx.root_body else d["link_mass_scale"]
        model.body_mass[body] *= scale
        model.body_inertia[body] *= scale * d["inertia_scale"]
    model.geom_friction[idx.foot_geoms, 0] = d["foot_friction"]
    model.dof_frictionloss[idx.dof_adr] = actuator.frictionloss + d["joint_friction"]
    half = -0.5 * d["ground_slope_rad"]  # PyBullet's plane: Euler (0, −slope, 0)
    model.geom_quat[idx.floor_geom] = [np.cos(half), 0.0, np.sin(half), 0.0]
    mujoco.mj_setConst(model, mujoco.MjData(model))  # subtree masses, constraint weights


@dataclass(frozen=True)
class ModelIndex:
    """Where a robot's parts are in a model from :func:`build_model`.

    Attributes:
        root_body: Body id of the free (URDF base) body.
        qpos_adr: (12,) ``qpos`` addresses of the joints, project order.
        dof_adr: (12,) ``qvel`` addresses of the joints, project order.
        actuators: (12,) actuator ids, project order.
        foot_geoms: (4,) geom ids of the foot spheres, FR, FL, RR, RL.
        floor_geom: Geom id of the floor.
    """

    root_body: int
    qpos_adr: np.ndarray
    dof_adr: np.ndarray
    actuators: np.ndarray
    foot_geoms: np.ndarray
    floor_geom: int

    @classmethod
    def of(cls, model: mujoco.MjModel, spec: RobotSpec) -> ModelIndex:
        """Look the parts up by name."""
        joints = [model.joint(name).id for name in spec.joint_names]
        return cls(
            root_body=int(model.joint("root").bodyid[0]),
            qpos_adr=np.array([model.jnt_qposadr[j] for j in joints]),
            dof_adr=np.array([model.jnt_dofadr[j] for j in joints]),
            actuators=np.array([model.actuator(name).id for name in spec.joint_names]),
            foot_geoms=np.array([model.geom(name).id for name in spec.foot_links]),
            floor_geom=int(model.geom(FLOOR).id),
        )


# ----------------------------------------------------------------------------- the motors
class UnitreeMotors:
    """Unitree's low-level motor law, evaluated every physics step.

    ``τ = τ_ff + kp·kp_scale·(q* − q) + kd·kd_scale·(dq* − dq)``, clipped to
    ``±torque_limit·motor_strength_scale`` and to the torque–speed curve
    (:func:`torque_speed_limit`). A command takes effect ``latency_s`` after it was sent
    (rounded to physics steps), as in :class:`~sim_training.robot_sim.SimRobot`.

    Args:
        spec: The robot spec.
        actuator: Torque–speed figures.
        physics_hz: Physics rate (Hz).
        dynamics: Dynamics params (the motor keys are used).
    """

    def __init__(self, spec: RobotSpec, actuator: ActuatorConfig, physics_hz: float,
                 dynamics: Mapping[str, float] | None = None) -> None:
        self.spec = spec
        self.physics_hz = physics_hz
        self.knee_speed = actuator.knee_speed_array(spec)
        self.max_speed = actuator.max_speed_array(spec)
        self._queue: collections.deque[tuple[int, tuple[np.ndarray, ...]]] = collections.deque()
        self._active: tuple[np.ndarray, ...] | None = None
        self.last_torque = np.zeros(12)
        self.set_dynamics(dynamics)

    def set_dynamics(self, dynamics: Mapping[str, float] | None) -> None:
        """Take the motor keys (gains scales, strength, latency) of a dynamics dict."""
        d = dynamics_from(None if dynamics is None else dict(dynamics))
        self.kp_scale, self.kd_scale = d["kp_scale"], d["kd_scale"]
        self.limit = np.asarray(self.spec.torque_limits, np.float64) * d["motor_strength_scale"]
        self.latency_steps = round(d["latency_s"] * self.physics_hz)

    def command(self, step: int, q: np.ndarray, dq: np.ndarray, kp: np.ndarray, kd: np.ndarray,
                tau: np.ndarray) -> None:
        """Queue a command sent at physics step ``step``; it acts ``latency_steps`` later."""
        arrays = tuple(np.array(a, dtype=np.float64) for a in (q, dq, kp, kd, tau))
        self._queue.append((step + self.latency_steps, arrays))

    def reset(self) -> None:
        """Forget every command (the motors are off until the next one acts)."""
        self._queue.clear()
        self._active = None
        self.last_torque = np.zeros(12)

    def torque(self, step: int, q: np.ndarray, dq: np.ndarray) -> np.ndarray:
        """The torques (12,) N·m the motors apply during physics step ``step``."""
        queue = self._queue
        while queue and queue[0][0] <= step:
            self._active = queue.popleft()[1]
        if self._active is None:
            tau = np.zeros(12)
        else:
            q_t, dq_t, kp, kd, tau_ff = self._active
            raw = tau_ff + kp * self.kp_scale * (q_t - q) + kd * self.kd_scale * (dq_t - dq)
            tau = torque_speed_limit(raw, dq, self.limit, self.knee_speed, self.max_speed)
        self.last_torque = tau
        return tau
