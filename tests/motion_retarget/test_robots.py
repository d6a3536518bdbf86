"""Robot specs against their URDFs, and pinocchio forward kinematics against PyBullet."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pinocchio as pin
import pybullet as pb
import pytest

from motion_retarget.kinematics import robot_model
from quadmimic.core.errors import RobotSpecError
from quadmimic.core.robots import LEG_NAMES, get_robot, robot_names

ROBOTS = ["a1", "laikago", "go1", "go2"]


def test_registry_lists_every_robot_file():
    assert robot_names() == sorted(ROBOTS)
    assert get_robot("A1").name == "a1"
    with pytest.raises(RobotSpecError, match=r"unknown robot 'spot'.*a1"):
        get_robot("spot")


@pytest.mark.parametrize("name", ROBOTS)
def test_spec_matches_urdf(name):
    spec = get_robot(name)
    rm = robot_model(name)
    model = rm.model
    lo = model.lowerPositionLimit[rm.q_idx]
    hi = model.upperPositionLimit[rm.q_idx]
    # The spec's limits are the URDF's (never wider).
    assert np.all(spec.lower >= lo - 1e-6) and np.all(spec.upper <= hi + 1e-6)
    np.testing.assert_allclose(spec.lower, lo, atol=1e-4)
    np.testing.assert_allclose(spec.upper, hi, atol=1e-4)
    assert spec.mass == pytest.approx(sum(i.mass for i in model.inertias), rel=1e-6)
    # Joint names are in FR, FL, RR, RL order and each leg's three joints form a chain.
    for leg, prefix in enumerate(LEG_NAMES):
        ids = rm.joint_ids[3 * leg: 3 * leg + 3]
        assert all(spec.joint_names[3 * leg + k].startswith(prefix) for k in range(3))
        assert model.parents[int(ids[1])] == ids[0] and model.parents[int(ids[2])] == ids[1]
        assert spec.foot_links[leg].startswith(prefix) or spec.foot_links[leg].endswith(prefix)
    # Foot sphere radius as in the URDF where the foot collision is a sphere.
    text = spec.urdf_path.read_text()
    link = re.search(rf'<link\s+name="{spec.foot_links[0]}">(.*?)</link>', text, re.S)
    assert link is not None
    spheres = re.findall(r'<collision>.*?<sphere radius="([0-9.]+)"', link.group(1), re.S)
    if spheres:
        assert float(spheres[0]) == pytest.approx(spec.foot_radius)


@pytest.mark.parametrize("name", ROBOTS)
def test_standing_pose_puts_feet_under_hips_on_ground(name):
    rm = robot_model(name)
    q = rm.standing_q()
    feet = rm.foot_positions(q)
    np.testing.assert_allclose(feet[:, 2], rm.spec.foot_radius, atol=1e-6)
    assert 0.15 < q[2] < 0.6
    # Right feet on the right (negative y), front feet in front (positive x).
    assert feet[0, 1] < 0 < feet[1, 1] and feet[2, 1] < 0 < feet[3, 1]
    assert feet[0, 0] > 0 > feet[2, 0] and feet[1, 0] > 0 > feet[3, 0]


def _pybullet_feet(client: int, body: int, link_index: dict, spec, frame: np.ndarray):
    # PyBullet places the base's centre of mass, not the URDF base frame.
    inertial_pos, inertial_orn = pb.getDynamicsInfo(body, -1, physicsClientId=client)[3:5]
    com_pos, com_orn = pb.multiplyTransforms(frame[:3], frame[3:7], inertial_pos, inertial_orn)
    pb.resetBasePositionAndOrientation(body, com_pos, com_orn, physicsClientId=client)
    for name, angle in zip(spec.joint_names, frame[7:], strict=True):
        pb.resetJointState(body, link_index[name], angle, physicsClientId=client)
    out = []
    for foot in spec.foot_links:
        state = pb.getLinkState(body, link_index[foot], computeForwardKinematics=True,
                                physicsClientId=client)
        out.append(state[4])  # URDF link frame position
    return np.array(out)


@pytest.mark.parametrize("name", ROBOTS)
def test_pinocchio_feet_match_pybullet(name):
    spec = get_robot(name)
    rm = robot_model(name)
    client = pb.connect(pb.DIRECT)
    try:
        body = pb.loadURDF(str(spec.resolved_urdf_path()), physicsClientId=client,
                           flags=pb.URDF_USE_INERTIA_FROM_FILE)
        link_index = {}
        for j in range(pb.getNumJoints(body, physicsClientId=client)):
            info = pb.getJointInfo(body, j, physicsClientId=client)
            link_index[info[1].decode()] = j  # joint name → index
            link_index[info[12].decode()] = j  # child link name → index
        rng = np.random.default_rng(7)
        for _ in range(20):
            frame = np.empty(19)
            frame[:3] = rng.uniform(-1, 1, 3)
            quat = rng.normal(size=4)
            frame[3:7] = quat / np.linalg.norm(quat)
            frame[7:] = rng.uniform(spec.lower, spec.upper)
            expected = _pybullet_feet(client, body, link_index, spec, frame)
            np.testing.assert_allclose(rm.foot_positions(rm.q_of(frame)), expected, atol=1e-3)
            assert np.max(np.abs(rm.foot_positions(rm.q_of(frame)) - expected)) < 1e-3
    finally:
        pb.disconnect(client)


@pytest.mark.parametrize("name", ROBOTS)
def test_frame_q_round_trip(name):
    rm = robot_model(name)
    rng = np.random.default_rng(1)
    frame = np.r_[rng.normal(size=3), pin.Quaternion.FromTwoVectors(
        np.array([1.0, 0, 0]), np.array([0, 1.0, 0])).coeffs(), rng.normal(size=12)]
    np.testing.assert_array_equal(rm.frame_of(rm.q_of(frame)), frame)


def test_urdf_copy_survives_processes_writing_it_at_once(tmp_path):
    """Env workers start together on a fresh machine: each writes the cached URDF copy."""
    import os
    import subprocess
    import sys

    code = ("from quadmimic.core.robots import get_robot\n"
            "from quadmimic.core.robots.spec import _resolved_copy\n"
            "spec = get_robot('go2')\n"
            "for _ in range(200):\n"
            "    _resolved_copy.cache_clear()\n"  # write it again, as a fresh process does
            "    out = spec.resolved_urdf_path()\n"
            "print(out)")
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(6)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-500:] for _, e in outs]
    paths = {o.strip() for o, _ in outs}
    assert len(paths) == 1 and Path(paths.pop()).is_file()
    assert not list((tmp_path / "quadmimic_urdf").glob("*.tmp"))
