"""Unitree Laikago, from ``pybullet_data/laikago/laikago_toes_limits.urdf`` (the paper's robot).

Its URDF base frame is turned against the body frame (x left, y up, z forward), hence the
base rotation offset: the paper's reference motions (``data/reference_motions``) store exactly
that base orientation.
"""

from quadmimic.core.robots.actuator import ActuatorConfig
from quadmimic.core.robots.spec import RobotSpec

_LEGS = ("FR", "FL", "RR", "RL")
_JOINTS = ("hip_motor_2_chassis_joint", "upper_leg_2_hip_motor_joint",
           "lower_leg_2_upper_leg_joint")

SPEC = RobotSpec(
    name="laikago",
    urdf_source="pybullet_data",
    urdf_relpath="laikago/laikago_toes_limits.urdf",
    joint_names=tuple(f"{leg}_{j}" for leg in _LEGS for j in _JOINTS),
    foot_links=tuple(f"toe{leg}" for leg in _LEGS),
    foot_radius=0.03,
    joint_lower=(-0.873, -1.3, -2.164) * 4,
    joint_upper=(1.0472, 3.4, 0.0) * 4,
    velocity_limits=(21.0,) * 12,
    torque_limits=(40.0,) * 12,
    default_pose=(0.0, 0.15, -1.0) * 4,
    kp=(220.0,) * 12,
    kd=(0.3, 2.0, 2.0) * 4,
    mass=25.567,
    base_rotation_offset=(0.5, 0.5, 0.5, 0.5),
    ground_contact_links=tuple(f"{leg}_lower_leg" for leg in _LEGS),
    notes="Limits and mass from the URDF; the default pose puts each foot under its hip at "
    "0.40 m base height; PD gains as in motion_imitation's laikago.py; torque and speed limits "
    "assumed as A1's motor class (the URDF's 100 N·m / 100 rad/s are placeholders). Its shank "
    "collision shapes reach the toes, so shank-ground contact is not a fall (as there).",
    actuator=ActuatorConfig(
        source="ASSUMED as A1's (the spec's torque/speed limits are already A1's)."),
)
