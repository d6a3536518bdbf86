"""Unitree Go1, from example-robot-data's ``go1_description/urdf/go1.urdf``."""

from quadmimic.core.robots.actuator import ActuatorConfig
from quadmimic.core.robots.spec import RobotSpec

_LEGS = ("FR", "FL", "RR", "RL")
# Rotor inertia 1.11842e-4 kg·m² (URDF rotor link, spin axis) × gear ratio² (6:1, knee 9:1),
# as in MuJoCo Lab's go1_constants.py.
_ROTOR = 1.11842e-4

SPEC = RobotSpec(
    name="go1",
    urdf_source="example-robot-data",
    urdf_relpath="go1_description/urdf/go1.urdf",
    joint_names=tuple(f"{leg}_{j}_joint" for leg in _LEGS for j in ("hip", "thigh", "calf")),
    foot_links=tuple(f"{leg}_foot" for leg in _LEGS),
    foot_radius=0.02,
    joint_lower=(-0.863, -0.686, -2.818) * 4,
    joint_upper=(0.863, 4.501, -0.888) * 4,
    velocity_limits=(30.1, 30.1, 20.06) * 4,
    torque_limits=(23.7, 23.7, 35.55) * 4,
    default_pose=(0.0, 0.9, -1.8) * 4,
    kp=(100.0,) * 12,
    kd=(1.0, 2.0, 2.0) * 4,
    mass=13.100529,
    notes="Limits, torque and speed limits and mass from the URDF; PD gains as A1's "
    "(similar size and motors).",
    actuator=ActuatorConfig(
        armature=(_ROTOR * 36, _ROTOR * 36, _ROTOR * 81),
        source="armature: URDF rotor inertia × gear ratio² (6:1, knee 9:1; MuJoCo Lab "
        "go1_constants.py); damping/frictionloss: as Go2 (unitree_mujoco); torque-speed: "
        "spec limits (23.7/35.55 N·m, 30.1/20.06 rad/s), knee at 0.45 × max speed ASSUMED "
        "from Go2's measured curve (no Go1 curve found)."),
    legged_sdk_type="Go1",
)
