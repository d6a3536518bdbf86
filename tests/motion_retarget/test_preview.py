"""Previews: the robot's meshes rendered headless, the animal drawn beside it."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest

from motion_retarget.kinematics import robot_model
from motion_retarget.motion import Motion
from motion_retarget.motion_file import load_motion
from motion_retarget.preview import MeshRenderer, render_gif
from tests.conftest import REPO

GROUND = np.array([0.42, 0.47, 0.52]) * 255


def _standing(robot: str) -> np.ndarray:
    return robot_model(robot).frame_of(robot_model(robot).standing_q())


@pytest.mark.parametrize("robot", ["go2", "a1"])
def test_the_robots_meshes_are_rendered(robot):
    renderer = MeshRenderer(robot, 160, 120)
    try:
        frame = _standing(robot)
        image = renderer.render(frame, np.r_[frame[:2], 0.2])
        empty = renderer.render(frame + np.r_[50.0, 0.0, np.zeros(17)], np.r_[frame[:2], 0.2])
    finally:
        renderer.close()
    assert image.shape == (120, 160, 3) and image.dtype == np.uint8
    # The robot covers the middle of the picture; without it there is only ground and sky.
    differs = np.any(np.abs(image.astype(int) - empty.astype(int)) > 30, axis=2)
    assert differs[40:100, 50:110].mean() > 0.2
    assert differs[:, :20].mean() < 0.02


def test_the_animal_stands_to_the_robots_right():
    renderer = MeshRenderer("go2", 240, 180)
    try:
        frame = _standing("go2")
        right = renderer.screen_right()
        target = np.r_[frame[:2], 0.2] + 0.35 * right
        hip = np.r_[frame[:2], 0.3] + 0.7 * right
        image = renderer.render(frame, target, points=[(hip, hip + [0.0, 0.0, -0.3],
                                                        (235, 140, 40), 3)])
    finally:
        renderer.close()
    orange = ((image[..., 0] > 200) & (image[..., 1] > 110) & (image[..., 1] < 170)
              & (image[..., 2] < 80))
    cols = np.flatnonzero(orange.any(axis=0))
    assert cols.size > 0 and cols.min() > 120  # right half of the picture


def test_mesh_and_stick_gifs(tmp_path):
    motion = load_motion(REPO / "data" / "motions" / "go2_trot.txt")
    short = Motion(frames=motion.frames[:9], frame_duration=motion.frame_duration,
                   loop_mode="Wrap")
    mesh = render_gif(short, "go2", tmp_path / "m.gif", size_px=160, max_frames=3)
    stick = render_gif(short, "go2", tmp_path / "s.gif", size_px=160, max_frames=3,
                       style="stick")
    assert iio.imread(mesh).shape == (3, 120, 160, 3)
    assert iio.imread(stick).shape[0] == 3
    with pytest.raises(ValueError, match="style"):
        render_gif(short, "go2", tmp_path / "x.gif", style="oil")
    assert not (tmp_path / "x.gif").exists()


def _drawn(text: str) -> np.ndarray:
    from PIL import Image, ImageDraw

    image = Image.new("L", (40, 24))
    ImageDraw.Draw(image).text((2, 2), text, fill=255)  # the renderer's font: the default
    return np.asarray(image)


def test_the_preview_title_has_no_missing_glyph():
    """Every character of a retarget preview's caption is in the renderer's font (a missing
    one is drawn as the same box as an unassigned code point)."""
    from motion_retarget.job import preview_title

    missing = _drawn("\uffff")
    title = preview_title("go1", "data/mocap/dog_trot_joint_pos.txt")
    assert "go1" in title and "dog_trot_joint_pos" in title
    assert not [c for c in set(title) - {" "} if np.array_equal(_drawn(c), missing)]
    assert np.array_equal(_drawn("\u2190"), missing)  # the test sees a missing glyph: ←
