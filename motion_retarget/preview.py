"""Headless previews: a GIF of the robot playing a motion, optionally beside the source clip.

Two styles, both without a display or a GPU:

- ``mesh`` (default): the robot's own visual meshes (the ones shipped with its URDF, COLLADA
  included) rendered by PyBullet's TinyRenderer, a software rasteriser, with shadows; the
  scaled animal keypoints are projected with the same camera and drawn beside the robot as a
  skeleton, planted feet as red dots. Cost per frame on this 2-core machine (480 x 360 px,
  measured): about 0.2-0.4 s, plus loading the meshes once (Go2 1.5 s, Go1 9 s: its COLLADA
  files are large, A1 0.4 s).
- ``stick``: matplotlib's Agg backend draws the robot as a stick figure of its joint origins
  (pinocchio forward kinematics), several times faster; for quick looks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motion_retarget.kinematics import RobotModel, robot_model
from motion_retarget.mocap import AI4ANIMATION_PARENTS
from motion_retarget.motion import Motion
from quadmimic.core.fileio import atomic_write

DOG_PARENTS = AI4ANIMATION_PARENTS
"""AI4Animation dog skeleton parents (27 keypoints), the default skeleton drawn."""


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


STYLES = ("mesh", "stick")
"""Preview styles: the robot's meshes (TinyRenderer) or a stick figure (matplotlib)."""


class MeshRenderer:
    """Renders a robot's visual meshes at motion frames with PyBullet's TinyRenderer.

    Args:
        robot: Robot name.
        width: Image width (px).
        height: Image height (px).
    """

    def __init__(self, robot: str, width: int = 480, height: int = 360) -> None:
        import pybullet as pb

        from quadmimic.core.robots import get_robot

        self.pb = pb
        self.spec = get_robot(robot)
        self.rm = robot_model(robot)
        self.width, self.height = int(width), int(height)
        self.client = pb.connect(pb.DIRECT)
        cid = self.client
        self.body = pb.loadURDF(str(self.spec.visual_urdf_path()), physicsClientId=cid)
        names = {pb.getJointInfo(self.body, j, physicsClientId=cid)[1].decode(): j
                 for j in range(pb.getNumJoints(self.body, physicsClientId=cid))}
        self.joints = [names[n] for n in self.spec.joint_names]
        ground = pb.createVisualShape(pb.GEOM_BOX, halfExtents=[50.0, 50.0, 0.005],
                                      rgbaColor=[0.42, 0.47, 0.52, 1.0], physicsClientId=cid)
        pb.createMultiBody(0, -1, ground, basePosition=[0.0, 0.0, -0.005], physicsClientId=cid)
        self.projection = pb.computeProjectionMatrixFOV(
            40.0, self.width / self.height, 0.05, 20.0, physicsClientId=cid)
        self._proj = np.array(self.projection).reshape(4, 4).T

    def screen_right(self, yaw_deg: float = 30.0, pitch_deg: float = -24.0) -> np.ndarray:
        """(3,) unit vector (world, horizontal) that points right on the screen."""
        view = self.pb.computeViewMatrixFromYawPitchRoll([0.0, 0.0, 0.0], 1.0, yaw_deg,
                                                         pitch_deg, 0.0, 2,
                                                         physicsClientId=self.client)
        right = np.array(view).reshape(4, 4).T[0, :3]
        right[2] = 0.0
        return right / np.linalg.norm(right)

    def close(self) -> None:
        """Disconnect the render client."""
        if self.client is not None:
            self.pb.disconnect(self.client)
            self.client = None

    def render(self, frame: np.ndarray, target: np.ndarray, *, yaw_deg: float = 30.0,
               pitch_deg: float = -24.0, distance: float = 1.5,
               points: list[tuple[np.ndarray, np.ndarray, tuple[int, int, int], int]] = (),
               dots: list[tuple[np.ndarray, tuple[int, int, int]]] = (),
               text: str | None = None) -> np.ndarray:
        """One image of the robot at ``frame`` (19,), camera aimed at ``target`` (3,).

        Args:
            frame: Motion frame: root position, root quaternion xyzw, 12 joints.
            target: Camera target (m, world).
            yaw_deg: Camera azimuth (deg).
            pitch_deg: Camera elevation (deg, negative looks down).
            distance: Camera distance (m).
            points: Line segments drawn over the image: (start (3,), end (3,), RGB, width px).
            dots: Dots drawn over the image: (position (3,), RGB).
            text: A caption at the top left.

        Returns:
            (height, width, 3) uint8 image.
        """
        from PIL import Image, ImageDraw

        pb, cid = self.pb, self.client
        pb.resetBasePositionAndOrientation(self.body, frame[:3], frame[3:7], physicsClientId=cid)
        for j, q in zip(self.joints, frame[7:19], strict=True):
            pb.resetJointState(self.body, j, float(q), physicsClientId=cid)
        view = pb.computeViewMatrixFromYawPitchRoll(list(map(float, target)), distance, yaw_deg,
                                                    pitch_deg, 0.0, 2, physicsClientId=cid)
        _, _, rgb, _, _ = pb.getCameraImage(
            self.width, self.height, view, self.projection, shadow=1,
            lightDirection=[0.4, -0.6, 1.0], renderer=pb.ER_TINY_RENDERER, physicsClientId=cid)
        image = Image.fromarray(np.reshape(np.asarray(rgb, dtype=np.uint8),
                                           (self.height, self.width, 4))[..., :3])
        draw = ImageDraw.Draw(image)
        clip = self._proj @ np.array(view).reshape(4, 4).T

        def pixel(p: np.ndarray) -> tuple[float, float]:
            h = clip @ np.r_[p, 1.0]
            return ((h[0] / h[3] + 1.0) * 0.5 * self.width,
                    (1.0 - h[1] / h[3]) * 0.5 * self.height)

        for a, b, colour, width in points:
            draw.line([pixel(a), pixel(b)], fill=colour, width=width)
        for p, colour in dots:
            x, y = pixel(p)
            draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=colour)
        if text:
            draw.text((8, 6), text, fill=(255, 255, 255))
        return np.asarray(image)


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
    style: str = "mesh",
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
        style: ``mesh`` (the robot's meshes) or ``stick`` (a stick figure, faster).

    Returns:
        The written path.
    """
    if style not in STYLES:
        raise ValueError(f"unknown preview style {style!r}; expected one of {STYLES}")
    if style == "mesh":
        return _render_mesh_gif(motion, robot, out, keypoints=keypoints, parents=parents,
                                contacts=contacts, fps=fps, max_frames=max_frames,
                                size_px=size_px, title=title)
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


def _render_mesh_gif(motion: Motion, robot: str, out: str | Path, *,
                     keypoints: np.ndarray | None, parents: tuple[int, ...],
                     contacts: np.ndarray | None, fps: float, max_frames: int, size_px: int,
                     title: str | None) -> Path:
    """:func:`render_gif` in the ``mesh`` style (same arguments)."""
    import imageio.v3 as iio

    step = max(1, round(motion.fps / fps))
    idx = np.arange(0, motion.num_frames, step)[:max_frames]
    width, height = int(size_px), round(size_px * 0.75)
    renderer = MeshRenderer(robot, width, height)
    try:
        side = 0.75 * renderer.screen_right()  # the animal stands to the robot's right
        feet = renderer.rm.feet_of_frames(motion.frames[idx])
        images = []
        for i, k in enumerate(idx):
            frame = motion.frames[k]
            target = np.r_[frame[:2], 0.2]
            points, dots = [], []
            if keypoints is not None:
                kp = keypoints[k] + side
                target[:2] += 0.5 * side[:2]
                points = [(kp[p], kp[j], (235, 140, 40), 2)
                          for j, p in enumerate(parents) if 0 <= p < len(kp)]
            if contacts is not None:
                dots = [(feet[i, f], (220, 40, 40)) for f in range(4) if contacts[k, f]]
            label = f"{title or robot}   t = {k / motion.fps:5.2f} s"
            images.append(renderer.render(frame, target, points=points, dots=dots,
                                          distance=1.9 if keypoints is not None else 1.5,
                                          text=label))
    finally:
        renderer.close()
    duration_ms = 1000.0 * step / motion.fps
    return atomic_write(out, lambda f: iio.imwrite(f, np.stack(images), extension=".gif",
                                                   duration=duration_ms, loop=0))


def gif_strip(gif: str | Path, out: str | Path, frames: int = 5, height: int = 110) -> Path:
    """A PNG strip of ``frames`` evenly spaced frames of a GIF, side by side (atomically).

    Args:
        gif: The GIF (e.g. a bundle's rollout).
        out: The PNG to write.
        frames: Frames in the strip.
        height: Height of the strip (px); widths keep the aspect ratio.

    Returns:
        The written path.
    """
    import imageio.v3 as iio
    from PIL import Image

    images = iio.imread(gif)
    if images.ndim == 3:
        images = images[None]
    idx = np.linspace(0, len(images) - 1, min(frames, len(images))).round().astype(int)
    tiles = [Image.fromarray(np.asarray(images[i])[..., :3]) for i in idx]
    tiles = [t.resize((round(t.width * height / t.height), height), Image.LANCZOS)
             for t in tiles]
    strip = Image.new("RGB", (sum(t.width for t in tiles), height))
    x = 0
    for t in tiles:
        strip.paste(t, (x, 0))
        x += t.width
    return atomic_write(out, lambda f: strip.save(f, format="PNG"))
