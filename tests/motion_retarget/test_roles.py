"""Roles files: another animal's skeleton retargets from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from motion_retarget.job import ClipOptions, load_clip_window
from motion_retarget.mocap import AI4ANIMATION_ROLES, load_keypoint_txt
from motion_retarget.motion_file import load_motion
from motion_retarget.roles import load_roles
from quadmimic.core.errors import ClipFormatError
from tests.motion_retarget.test_mocap import raw_path, raw_rows, write_dog_bvh

#: A rig whose joint names share nothing with the AI4Animation dog's (same bones, same order).
CAT_NAMES = (
    "pelvis_jnt", "spine_01", "spine_02", "neck_base", "skull", "skull_end",
    "l_scapula", "l_humerus", "l_radius", "l_paw_f", "l_paw_f_end",
    "r_scapula", "r_humerus", "r_radius", "r_paw_f", "r_paw_f_end",
    "l_femur", "l_tibia", "l_paw_h", "l_paw_h_end",
    "r_femur", "r_tibia", "r_paw_h", "r_paw_h_end",
    "tail_01", "tail_02", "tail_02_end",
)  # fmt: skip

CAT_ROLES = """\
# which joints of cat.bvh play which role; legs FR, FL, RR, RL
pelvis = "pelvis_jnt"
neck = "neck_base"
hips = ["r_scapula", "l_scapula", "r_femur", "l_femur"]
toes = ["r_paw_fSite", "l_paw_fSite", "r_paw_hSite", "l_paw_hSite"]
units = "cm"
"""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quadmimic", *args], capture_output=True,
                          text=True, timeout=180)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("roles")
    raw = raw_rows("dog_walk00")[150:250].reshape(-1, 27, 3)
    cat = write_dog_bvh(tmp / "cat.bvh", raw, scale=100.0, names=CAT_NAMES)
    dog = write_dog_bvh(tmp / "dog.bvh", raw)
    roles = tmp / "cat.toml"
    roles.write_text(CAT_ROLES)
    return {"cat": cat, "dog": dog, "roles": roles, "tmp": tmp}


def test_a_renamed_skeleton_retargets_from_the_cli_like_the_dog(clips):
    tmp = clips["tmp"]
    cat_out, dog_out = tmp / "cat.txt", tmp / "dog.txt"
    proc = run("retarget", str(clips["cat"]), "--roles", str(clips["roles"]), "--robot", "go2",
               "--out", str(cat_out))
    assert proc.returncode == 0, proc.stderr
    proc = run("retarget", str(clips["dog"]), "--units", "m", "--robot", "go2",
               "--out", str(dog_out))
    assert proc.returncode == 0, proc.stderr
    # Same bones in centimetres under other names: the same motion.
    np.testing.assert_allclose(load_motion(cat_out).frames, load_motion(dog_out).frames,
                               atol=1e-5)


def test_without_the_roles_the_error_lists_the_clips_joints(clips):
    proc = run("retarget", str(clips["cat"]), "--robot", "go2",
               "--out", str(clips["tmp"] / "x.txt"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "'Hips'" in lines[0] and "pelvis_jnt" in lines[0] and "r_paw_h_end" not in lines[0]
    assert "r_paw_hSite" in lines[0]  # end sites are joints of the clip too
    assert not (clips["tmp"] / "x.txt").exists()


def test_a_role_naming_no_joint_is_one_line(clips):
    bad = clips["tmp"] / "bad.toml"
    bad.write_text(CAT_ROLES.replace('"r_paw_hSite"', '"r_hoof"'))
    proc = run("retarget", str(clips["cat"]), "--roles", str(bad), "--robot", "go2",
               "--out", str(clips["tmp"] / "y.txt"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "'r_hoof'" in lines[0] and "pelvis_jnt" in lines[0]


@pytest.mark.parametrize(("text", "needle"), [
    ('pelvis = "a"\nhips = ["a", "b"]\n', "4 joints"),
    ('paws = ["a", "b", "c", "d"]\n', "unknown key"),
    ('up = "x"\n', "up must be one of"),
    ('pelvis = 1.5\n', "joint name or a keypoint index"),
    ('pelvis = "a\n', "not valid TOML"),
])
def test_bad_roles_files(tmp_path, text, needle):
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(ClipFormatError, match=needle):
        load_roles(path)


def test_json_roles_with_indices_on_a_text_clip(tmp_path):
    # The hind legs swapped for the front ones by index: the roles file is what counts.
    roles = tmp_path / "r.json"
    roles.write_text(json.dumps({"hips": [16, 20, 6, 11], "toes": [19, 23, 10, 15]}))
    clip = load_clip_window(raw_path("dog_walk00"), ClipOptions(roles=roles))
    default = load_keypoint_txt(raw_path("dog_walk00"))
    assert clip.roles.hips == (16, 20, 6, 11) and clip.roles.pelvis == AI4ANIMATION_ROLES.pelvis
    np.testing.assert_allclose(clip.toes()[:, 0], default.toes()[:, 2])
