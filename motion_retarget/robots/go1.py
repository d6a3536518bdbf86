"""Unitree Go1, from example-robot-data's ``go1_description/urdf/go1.urdf``."""

from motion_retarget.robots.spec import RobotSpec

_LEGS = ("FR", "FL", "RR", "RL")

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
)
