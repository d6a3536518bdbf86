"""Unitree Go2, from example-robot-data's ``go2_description/urdf/go2.urdf``."""

from quadmimic.core.robots.actuator import ActuatorConfig
from quadmimic.core.robots.spec import RobotSpec

_LEGS = ("FR", "FL", "RR", "RL")
_FRONT_LO, _REAR_LO = (-1.0472, -1.5708, -2.7227), (-1.0472, -0.5236, -2.7227)
_FRONT_HI, _REAR_HI = (1.0472, 3.4907, -0.83776), (1.0472, 4.5379, -0.83776)

SPEC = RobotSpec(
    name="go2",
    urdf_source="example-robot-data",
    urdf_relpath="go2_description/urdf/go2.urdf",
    joint_names=tuple(f"{leg}_{j}_joint" for leg in _LEGS for j in ("hip", "thigh", "calf")),
    foot_links=tuple(f"{leg}_foot" for leg in _LEGS),
    foot_radius=0.022,
    joint_lower=_FRONT_LO * 2 + _REAR_LO * 2,
    joint_upper=_FRONT_HI * 2 + _REAR_HI * 2,
    velocity_limits=(30.1, 30.1, 15.7) * 4,
    torque_limits=(23.7, 23.7, 45.43) * 4,
    default_pose=(0.0, 0.9, -1.8) * 4,
    kp=(100.0,) * 12,
    kd=(1.0, 2.0, 2.0) * 4,
    mass=16.085,
    notes="Limits, torque and speed limits and mass from the URDF; the foot collision is a "
    "convex mesh of about 22 mm radius (Unitree's MJCF uses a 0.022 m sphere).",
    actuator=ActuatorConfig(
        source="armature/damping/frictionloss: unitree_mujoco go2.xml (0.01, 0.1, 0.2); "
        "torque-speed: GO-M8010-6 measured curve (unitree_rl_lab Go2HV: full torque to 13.5, "
        "zero at 30 rad/s) scaled to the spec's per-joint limits (23.7/45.43 N·m, "
        "30.1/15.7 rad/s: the knee linkage's 1.92:1 divides the speeds)."),
)
