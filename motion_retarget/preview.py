"""Headless previews: a GIF of the robot playing a motion, optionally beside the source clip.

Drawn with matplotlib's Agg backend (no display, no GPU): the robot as a stick figure of its
joint origins (from pinocchio forward kinematics), feet coloured by contact, and the scaled
animal keypoints as a skeleton shifted sideways so both read at a glance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motion_retarget.fileio import atomic_write
from motion_retarget.kinematics import RobotModel, robot_model
from motion_retarget.motion import Motion

# AI4Animation dog skeleton parents (27 keypoints), see ../shared/mocap_raw/SOURCE.md.
DOG_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 3, 4, 3, 6, 7, 8, 9, 3, 11, 12, 13, 14,
                                0, 16, 17, 18, 0, 20, 21, 22, 0, 24, 25)


def robot_segments(rm: RobotModel, frames: np.ndarray) -> np.ndarray:
    """Line segments (N, S, 2, 3) m of the robot skeleton for motion frames (N, 19).

    Segments: the body rectangle through the four hip joints, and per leg abduction→hip→
    knee→foot.
    """
    import pinocchio as pin

    out = []
    for frame in frames:
        q = rm.q_of(frame)
        pin.framesForwardKinematics(rm.model, rm.data, q)
        joints = [rm.data.oMi[int(j)].translation.copy() for j in rm.joint_ids]
        feet = [rm.data.oMf[int(f)].translation.copy() for f in rm.foot_ids]
        segs = []
        for leg in range(4):
            a, h, k = joints[3 * leg: 3 * leg + 3]
            segs += [(a, h), (h, k), (k, feet[leg])]
        abd = [joints[3 * leg] for leg in range(4)]  # FR, FL, RR, RL
        segs += [(abd[0], abd[1]), (abd[1], abd[3]), (abd[3], abd[2]), (abd[2], abd[0])]
        out.append(segs)
    return np.asarray(out)


def render_gif(
    motion: Motion,
    robot: str,
    out: str | Path,
    *,
    keypoints: np.ndarray | None = None,
    parents: tuple[int, ...] = DOG_PARENTS,
    contacts: np.ndarray | None = None,
    fps: float = 20.0,
    max_frames: int = 120,
    size_px: int = 480,
    title: str | None = None,
) -> Path:
    """Write a GIF of ``robot`` playing ``motion`` (atomically).

    Args:
        motion: The motion to draw.
        robot: Robot name.
        out: Destination ``.gif``.
        keypoints: Optional (N, K, 3) source keypoints in the motion's frame, drawn beside.
        parents: Parent index per keypoint (−1 for the root) to draw the skeleton's bones.
        contacts: Optional (N, 4) foot contact mask; planted feet are drawn filled red.
        fps: GIF frame rate; the motion is subsampled to it (played in real time).
        max_frames: At most this many GIF frames (longer motions are cut, not sped up).
        size_px: Image width and height (px).
        title: Text at the top (default: robot name).

    Returns:
        The written path.
    """
    import imageio.v3 as iio
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rm = robot_model(robot)
    step = max(1, round(motion.fps / fps))
    idx = np.arange(0, motion.num_frames, step)[:max_frames]
    segs = robot_segments(rm, motion.frames[idx])
    feet = rm.feet_of_frames(motion.frames[idx])
    side = np.array([0.0, 0.6, 0.0])
    kps = None if keypoints is None else keypoints[idx] + side
    dpi = 80
    fig = plt.figure(figsize=(size_px / dpi, size_px / dpi), dpi=dpi)
    ax = fig.add_subplot(projection="3d")
    images = []
    half = 0.5
    fig.subplots_adjust(0, 0, 1, 1)
    for i in range(len(idx)):
        ax.cla()
        centre = motion.frames[idx[i], :3].copy()
        if kps is not None:
            centre = centre + 0.5 * side
        centre[2] = 0.0
        for a, b in segs[i]:
            ax.plot(*np.c_[a, b], color="tab:blue", lw=2)
        planted = (np.zeros(4, bool) if contacts is None else contacts[idx[i]])
        ax.scatter(*feet[i].T, c=["tab:red" if p else "white" for p in planted],
                   edgecolors="tab:red", s=30, depthshade=False)
        if kps is not None:
            for k, p in enumerate(parents):
                if p >= 0:
                    ax.plot(*np.c_[kps[i, p], kps[i, k]], color="tab:orange", lw=1)
        gx, gy = np.meshgrid(np.linspace(-half, half, 7) + centre[0],
                             np.linspace(-half, half, 7) + centre[1])
        ax.plot_wireframe(gx, gy, np.zeros_like(gx), color="0.85", lw=0.5)
        ax.set_xlim(centre[0] - half, centre[0] + half)
        ax.set_ylim(centre[1] - half, centre[1] + half)
        ax.set_zlim(0.0, half)
        ax.set_box_aspect((1, 1, 0.5), zoom=1.3)
        ax.view_init(elev=20, azim=-60)
        ax.set_axis_off()
        label = title or robot
        ax.text2D(0.03, 0.95, f"{label}   t = {idx[i] / motion.fps:5.2f} s", transform=ax.transAxes,
                  fontsize=10)
        fig.canvas.draw()
        images.append(np.asarray(fig.canvas.buffer_rgba())[..., :3].copy())
    plt.close(fig)
    duration_ms = 1000.0 * step / motion.fps
    return atomic_write(out, lambda f: iio.imwrite(f, np.stack(images), extension=".gif",
                                                   duration=duration_ms, loop=0))
