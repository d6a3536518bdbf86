"""Unitree A1, from ``pybullet_data/a1/a1.urdf`` (the URDF motion_imitation trains on)."""

from quadmimic.core.robots.actuator import ActuatorConfig
from quadmimic.core.robots.spec import RobotSpec

_LEGS = ("FR", "FL", "RR", "RL")

SPEC = RobotSpec(
    name="a1",
    urdf_source="pybullet_data",
    urdf_relpath="a1/a1.urdf",
    joint_names=tuple(f"{leg}_{j}_joint" for leg in _LEGS for j in ("hip", "upper", "lower")),
    foot_links=tuple(f"{leg}_toe" for leg in _LEGS),
    foot_radius=0.02,
    # The shank's collision box reaches the toe sphere: a tilted shank grazes the ground
    # beside a planted foot while tracking the trot reference at nominal dynamics.
    ground_contact_links=tuple(f"{leg}_lower" for leg in _LEGS),
    joint_lower=(-0.802851455917, -1.0471975512, -2.69653369433) * 4,
    joint_upper=(0.802851455917, 4.18879020479, -0.916297857297) * 4,
    velocity_limits=(21.0,) * 12,
    torque_limits=(33.5,) * 12,
    default_pose=(0.0, 0.9, -1.8) * 4,
    kp=(100.0,) * 12,
    kd=(1.0, 2.0, 2.0) * 4,
    mass=12.458,
    notes="Limits and mass from the URDF; torque/speed limits from Unitree's A1 datasheet "
    "(33.5 N·m, 21 rad/s); PD gains as in motion_imitation's a1.py.",
    actuator=ActuatorConfig(
        source="armature 0.01: menagerie a1.xml (no Unitree figure; ASSUMPTION); "
        "damping/frictionloss: as Go2 (unitree_mujoco); torque-speed: A1 datasheet 33.5 N·m, "
        "21 rad/s, knee at 0.45 × 21 rad/s ASSUMED from Go2's measured curve."),
    # SDK 3.8's wire format is the Go1's; a real A1 speaks SDK 3.3, so over go1-udp the A1
    # only makes sense against the emulator.
    legged_sdk_type="A1",
)
