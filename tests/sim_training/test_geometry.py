"""Rotation helpers against scipy's Rotation: log_rotation over the whole range of angles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from quadmimic.core.geometry import log_rotation

SMALL_ANGLES = (0.0, 1e-300, 1e-15, 1e-12, 1e-9, 1e-7, 1e-5, 1e-3, 0.1)
NEAR_PI = (1e-1, 1e-3, 1e-5, 1e-7, 1e-9, 1e-12)  # π − these


def _axes(rng: np.random.Generator, n: int) -> np.ndarray:
    axes = rng.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    return np.concatenate([np.eye(3), -np.eye(3), axes])  # coordinate axes are edge cases


def _both_paths(mats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log_rotation of each matrix alone (the (3, 3) path) and of all at once (batched)."""
    one = np.array([log_rotation(m) for m in mats])
    return one, log_rotation(mats)


def test_random_rotations_match_scipy():
    rot = Rotation.random(2000, random_state=1)
    mats = rot.as_matrix()
    one, batch = _both_paths(mats)
    expected = rot.as_rotvec()
    np.testing.assert_allclose(one, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(batch, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("angle", SMALL_ANGLES)
def test_angles_near_zero(angle):
    rotvecs = angle * _axes(np.random.default_rng(2), 50)
    mats = Rotation.from_rotvec(rotvecs).as_matrix()
    one, batch = _both_paths(mats)
    expected = Rotation.from_matrix(mats).as_rotvec()
    for got in (one, batch):
        # Relative accuracy even for tiny angles: the antisymmetric part carries them exactly.
        np.testing.assert_allclose(got, rotvecs, rtol=1e-9, atol=1e-300)
        np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize("delta", NEAR_PI)
def test_angles_near_pi(delta):
    angle = math.pi - delta
    rotvecs = angle * _axes(np.random.default_rng(3), 50)
    mats = Rotation.from_rotvec(rotvecs).as_matrix()
    one, batch = _both_paths(mats)
    expected = Rotation.from_matrix(mats).as_rotvec()
    for got in (one, batch):
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), angle, rtol=0, atol=1e-12)
        np.testing.assert_allclose(got, rotvecs, rtol=0, atol=1e-9)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_log_of_pi_minus_1e7_is_not_zero():
    angle = math.pi - 1e-7
    mat = Rotation.from_rotvec([angle, 0.0, 0.0]).as_matrix()
    np.testing.assert_allclose(log_rotation(mat), [angle, 0.0, 0.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(log_rotation(mat[None])[0], [angle, 0.0, 0.0], rtol=0,
                               atol=1e-12)


def test_exactly_pi_gives_angle_pi_and_the_same_rotation():
    axes = _axes(np.random.default_rng(4), 100)
    mats = Rotation.from_rotvec(math.pi * axes).as_matrix()
    expected = Rotation.from_matrix(mats).as_rotvec()
    for got in _both_paths(mats):
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), math.pi, rtol=0, atol=1e-12)
        # At π the sign of the axis is free: ±k is the same rotation.
        sign = np.sign(np.einsum("ni,ni->n", got, expected))
        np.testing.assert_allclose(got, sign[:, None] * expected, rtol=0, atol=1e-12)
        np.testing.assert_allclose(Rotation.from_rotvec(got).as_matrix(), mats, rtol=0,
                                   atol=1e-12)
    # Exact π matrices written by hand (diag(1, −1, −1) etc.), no rounding at all.
    for i in range(3):
        mat = -np.eye(3)
        mat[i, i] = 1.0
        got = log_rotation(mat)
        assert abs(abs(got[i]) - math.pi) < 1e-15 and np.count_nonzero(got) == 1


def test_log_then_exp_is_identity_over_all_angles():
    rng = np.random.default_rng(5)
    angles = np.concatenate([rng.uniform(0.0, math.pi, 500), [0.0, math.pi / 2, math.pi],
                             math.pi - np.logspace(-14, -1, 30), np.logspace(-14, -1, 30)])
    axes = rng.normal(size=(len(angles), 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    mats = Rotation.from_rotvec(angles[:, None] * axes).as_matrix()
    for got in _both_paths(mats):
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), angles, rtol=0, atol=1e-12)
        np.testing.assert_allclose(Rotation.from_rotvec(got).as_matrix(), mats, rtol=0,
                                   atol=1e-12)


def test_shapes_and_dtypes():
    mats = Rotation.random(24, random_state=6).as_matrix()
    assert log_rotation(mats[0]).shape == (3,)
    assert log_rotation(mats.reshape(4, 6, 3, 3)).shape == (4, 6, 3)
    np.testing.assert_array_equal(log_rotation(mats.reshape(4, 6, 3, 3)).reshape(24, 3),
                                  log_rotation(mats))
    assert log_rotation(np.zeros((0, 3, 3))).shape == (0, 3)
    got = log_rotation(mats.astype(np.float32))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, Rotation.from_matrix(mats).as_rotvec(), atol=1e-5)
