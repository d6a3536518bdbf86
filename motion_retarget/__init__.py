"""Stage 1: retarget animal motion-capture clips onto a quadruped robot.

Reads keypoint or BVH clips, solves per-frame IK with pinocchio under contact and joint-limit
constraints, and writes reference motions in the motion_imitation JSON format.
"""

__all__ = ["bench", "cli", "contacts", "cycle", "ik", "job", "kinematics", "mocap", "motion",
           "preview", "quality", "retarget", "robot_clip", "roles"]
