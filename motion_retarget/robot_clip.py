"""Another robot's reference motion as a keypoint clip, so it retargets like an animal's.

Robot-to-robot retargeting (``quadmimic retarget MOTION.txt --from laikago --robot go2``) runs
the same pipeline as a dog clip (:func:`motion_retarget.retarget.retarget`): scale by hip
height, body pose from the hips, feet pinned in stance, IK with joint limits and the ground as
hard constraints. Only the keypoints come from elsewhere: forward kinematics (pinocchio) of the
source robot gives, per frame,

- ``hip_FR`` … ``hip_RL``: each leg's hip flexion axis at zero abduction, fixed to the body
  (the source's :attr:`~motion_retarget.kinematics.RobotModel.hip_anchors`), which is what the
  target's hip anchors are matched to;
- ``toe_FR`` … ``toe_RL``: the foot's contact point, its centre lowered by its radius;
- ``pelvis`` and ``neck``: the middle of the hind and of the front hips, so pelvis→neck is
  the body's forward axis.

The motion's loop mode and cycle-offset flags are kept by the job (a spin keeps
``EnableCycleOffsetRotation``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motion_retarget.kinematics import robot_model
from motion_retarget.mocap import Clip, KeypointRoles
from motion_retarget.motion import Motion

LEGS = ("FR", "FL", "RR", "RL")
NAMES: tuple[str, ...] = ("pelvis", "neck", *(f"hip_{leg}" for leg in LEGS),
                          *(f"toe_{leg}" for leg in LEGS))
"""Keypoint names of a robot clip, in order."""
ROLES = KeypointRoles(pelvis=0, neck=1, hips=(2, 3, 4, 5), toes=(6, 7, 8, 9))
"""Roles of the keypoints of a robot clip."""
PARENTS = (-1, 0, 1, 1, 0, 0, 2, 3, 4, 5)
"""Skeleton of a robot clip for previews: pelvis → neck, hips → their toes."""


def clip_from_motion(motion: Motion, robot: str, source: str | Path | None = None) -> Clip:
    """Keypoints (T, 10, 3) of a robot motion: pelvis, neck, four hips, four toes.

    Args:
        motion: A reference motion of ``robot`` (frames in project joint order).
        robot: Name of the robot the motion was made for (its spec file).
        source: The motion's file, recorded in the clip for messages.

    Returns:
        A clip in metres, z up, at the motion's frame rate, with :data:`ROLES`.
    """
    rm = robot_model(robot)
    frames = motion.frames
    keypoints = np.empty((len(frames), len(NAMES), 3))
    bodies = rm.body_rotations(motion.root_quat)
    for t, frame in enumerate(frames):
        feet = rm.foot_positions(rm.q_of(frame))
        hips = frame[:3] + rm.hip_anchors @ bodies[t].T
        keypoints[t, 2:6] = hips
        keypoints[t, 6:10] = feet - np.array([0.0, 0.0, rm.spec.foot_radius])
        keypoints[t, 0] = hips[2:4].mean(axis=0)
        keypoints[t, 1] = hips[0:2].mean(axis=0)
    return Clip(positions=keypoints, fps=1.0 / motion.frame_duration, names=NAMES, roles=ROLES,
                source=None if source is None else Path(source), parents=PARENTS)
