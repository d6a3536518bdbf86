"""The project's one rotation module: quaternions xyzw, rotation matrices, planar paths.

Every stage's rotations come from here (numpy, vectorised; quaternion helpers are
sign-agnostic where noted). Hand-written rather than scipy.spatial.transform: these run inside
the env step, where the scipy Rotation object construction alone costs ~20 µs per call
against ~1 µs here.
"""

from __future__ import annotations

import math

import numpy as np


def quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product ``a * b`` of xyzw quaternions, broadcasting over leading axes."""
    ax, ay, az, aw = np.moveaxis(a, -1, 0)
    bx, by, bz, bw = np.moveaxis(b, -1, 0)
    return np.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        axis=-1,
    )


def quat_conj(q: np.ndarray) -> np.ndarray:
    """Conjugate (the inverse, for unit quaternions) of xyzw quaternions (..., 4)."""
    return q * np.array([-1.0, -1.0, -1.0, 1.0])


def quat_rotvec(q: np.ndarray) -> np.ndarray:
    """Rotation vectors (M, 3) (axis x angle, angle in [0, pi]) of unit quaternions (M, 4).

    ``q`` and ``-q`` give the same vector (the shortest rotation). The angle is
    ``2 atan2(|v|, |w|)``, accurate to rounding for small and large angles alike.
    """
    v = q[:, :3] * np.where(q[:, 3:] < 0.0, -1.0, 1.0)
    w = np.abs(q[:, 3])
    s = np.linalg.norm(v, axis=1)
    angle = 2.0 * np.arctan2(s, w)
    factor = np.where(s > 0.0, angle / np.where(s > 0.0, s, 1.0), 2.0 / np.maximum(w, 1e-300))
    return v * factor[:, None]


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of unit quaternions (..., 4) xyzw."""
    q = np.asarray(q, dtype=np.float64)
    if q.ndim == 1:  # the env's hot path: scalar arithmetic is ~20× faster than stacking
        x, y, z, w = q.tolist()
        return np.array([
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])
    x, y, z, w = np.moveaxis(q, -1, 0)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz, wx, wy, wz = x * y, x * z, y * z, w * x, w * y, w * z
    m = np.stack([1 - 2 * (yy + zz), 2 * (xy - wz), 2 * (xz + wy),
                  2 * (xy + wz), 1 - 2 * (xx + zz), 2 * (yz - wx),
                  2 * (xz - wy), 2 * (yz + wx), 1 - 2 * (xx + yy)], axis=-1)
    return m.reshape(*m.shape[:-1], 3, 3)


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Unit quaternion xyzw (4,) of a rotation matrix (3, 3), w >= 0."""
    m = np.asarray(m, dtype=np.float64)
    trace = m[0, 0] + m[1, 1] + m[2, 2]
    if trace > 0:
        s = 2.0 * np.sqrt(trace + 1.0)
        q = np.array([(m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s,
                      (m[1, 0] - m[0, 1]) / s, 0.25 * s])
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        q = np.empty(4)
        q[i] = 0.25 * s
        q[j] = (m[j, i] + m[i, j]) / s
        q[k] = (m[k, i] + m[i, k]) / s
        q[3] = (m[k, j] - m[j, k]) / s
    q /= np.linalg.norm(q)
    return q if q[3] >= 0 else -q


def roll_pitch(rot: np.ndarray) -> np.ndarray:
    """Body roll and pitch (2,) rad of a body rotation matrix (3, 3) (x forward, z up).

    The one definition of the observation's roll/pitch: the env computes it from the
    simulated body and a robot from its IMU quaternion (through :func:`quat_to_matrix`), so
    both must agree.
    """
    return np.array([math.atan2(rot[2, 1], rot[2, 2]),
                     -math.asin(min(1.0, max(-1.0, rot[2, 0])))])


def yaw_of(rot: np.ndarray) -> np.ndarray:
    """Heading (rad) of body rotation matrices (..., 3, 3): yaw of the body x axis."""
    return np.arctan2(rot[..., 1, 0], rot[..., 0, 0])


def wrap_angle(angle: float) -> float:
    """An angle (rad) wrapped to [−π, π)."""
    return (angle + math.pi) % (2.0 * math.pi) - math.pi


def yaw_matrix(yaw: np.ndarray | float) -> np.ndarray:
    """Rotation matrices (..., 3, 3) about z by ``yaw`` (rad)."""
    if np.ndim(yaw) == 0:
        c, s = math.cos(yaw), math.sin(yaw)
        return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    c, s = np.cos(yaw), np.sin(yaw)
    zero, one = np.zeros_like(c), np.ones_like(c)
    m = np.stack([c, -s, zero, s, c, zero, zero, zero, one], axis=-1)
    return m.reshape(*np.shape(c), 3, 3)


def rotation_angle(r_a: np.ndarray, r_b: np.ndarray) -> float:
    """Angle (rad) of the relative rotation between two rotation matrices (3, 3)."""
    cos = 0.5 * (float(np.vdot(r_a, r_b)) - 1.0)  # trace(AᵀB) = Σ A∘B
    return math.acos(min(1.0, max(-1.0, cos)))


def log_rotation(r: np.ndarray) -> np.ndarray:
    """Rotation vectors (..., 3) (axis × angle, angle in [0, π]) of rotation matrices (..., 3, 3).

    The angle is ``atan2(sin θ, cos θ)`` with ``2 sin θ = ‖vee(R − Rᵀ)‖`` and
    ``2 cos θ = tr R − 1``, accurate to rounding at both ends of [0, π] (``acos`` of the
    trace alone loses half the digits near 0 and near π). Up to θ = π/2 the axis is the
    antisymmetric part ``vee(R − Rᵀ) / (2 sin θ)`` (θ / (2 sin θ) → 1/2 at 0). Past π/2,
    where that part vanishes with sin θ, the axis comes from the symmetric part
    ``(R + Rᵀ)/2 − cos θ I = (1 − cos θ) k kᵀ`` (``(R + I)/2 = k kᵀ`` at π): its column
    with the largest diagonal entry, normalised, its sign that of ``k · vee(R − Rᵀ)`` (either
    sign at exactly π, where both are the same rotation).

    Cost, timeit best of 9 on the 2-core dev machine under load: one (3, 3) (the env step's
    call) 0.9 µs for θ ≤ π/2, 1.6 µs past it (the ``acos`` form before: 1.7 µs, and ~0
    returned for θ = π − 1e-7); a (64, 3, 3) batch 14 µs with every θ ≤ π/2 (before: 13 µs),
    33 µs for uniformly random rotations (half of them past π/2).
    ``scipy.spatial.transform.Rotation.from_matrix(r).as_rotvec()``: 29 µs for one (3, 3).

    Args:
        r: Rotation matrices (3, 3) or (..., 3, 3).

    Returns:
        Rotation vectors, shape ``r.shape[:-1]``.
    """
    r = np.asarray(r, dtype=np.float64)
    if r.ndim == 2:  # the env's hot path: scalar arithmetic
        rows = r.tolist()
        (r00, r01, r02), (r10, r11, r12), (r20, r21, r22) = rows
        vx, vy, vz = r21 - r12, r02 - r20, r10 - r01
        cos = 0.5 * (r00 + r11 + r22 - 1.0)
        sin = 0.5 * math.sqrt(vx * vx + vy * vy + vz * vz)
        angle = math.atan2(sin, cos)
        if cos >= 0.0:
            factor = 0.5 if sin < 1e-8 else 0.5 * angle / sin
            return np.array([factor * vx, factor * vy, factor * vz])
        diag = (r00, r11, r22)
        i = diag.index(max(diag))
        col = [0.5 * (rows[j][i] + rows[i][j]) for j in range(3)]
        col[i] = diag[i] - cos
        scale = angle / math.sqrt(col[0] * col[0] + col[1] * col[1] + col[2] * col[2])
        if col[0] * vx + col[1] * vy + col[2] * vz < 0.0:
            scale = -scale
        return np.array([scale * col[0], scale * col[1], scale * col[2]])
    m = r.reshape(-1, 3, 3)
    vee = np.stack([m[:, 2, 1] - m[:, 1, 2], m[:, 0, 2] - m[:, 2, 0],
                    m[:, 1, 0] - m[:, 0, 1]], axis=-1)
    cos = 0.5 * (m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2] - 1.0)
    sin = 0.5 * np.sqrt(np.einsum("ni,ni->n", vee, vee))
    angle = np.arctan2(sin, cos)
    small = sin < 1e-8
    out = vee * np.where(small, 0.5, 0.5 * angle / np.where(small, 1.0, sin))[:, None]
    wide = np.flatnonzero(cos < 0.0)
    if wide.size:
        mw, cw = m[wide], cos[wide]
        i = np.argmax(np.diagonal(mw, axis1=-2, axis2=-1), axis=-1)
        n = np.arange(wide.size)
        col = 0.5 * (mw[n, :, i] + mw[n, i, :])
        col[n, i] = mw[n, i, i] - cw
        scale = angle[wide] / np.linalg.norm(col, axis=-1)
        scale = np.where(np.einsum("ni,ni->n", col, vee[wide]) < 0.0, -scale, scale)
        out[wide] = col * scale[:, None]
    return out.reshape(r.shape[:-1])


def planar_steps(positions: np.ndarray, yaws: np.ndarray) -> np.ndarray:
    """Each step's forward, lateral (left positive) displacement (m) and yaw change (rad).

    A step's horizontal displacement is expressed in the heading frame halfway through the
    step, so a turning or side-stepping motion is judged in its own body frame.

    Args:
        positions: (N, 3) base positions (m).
        yaws: (N,) headings (rad); unwrapped here.

    Returns:
        (N - 1, 3) displacements; (0, 3) for N < 2.
    """
    positions = np.asarray(positions, dtype=np.float64)
    yaws = np.unwrap(np.asarray(yaws, dtype=np.float64))
    if len(positions) < 2:
        return np.zeros((0, 3))
    step = np.diff(positions[:, :2], axis=0)
    dyaw = np.diff(yaws)
    mid = yaws[:-1] + 0.5 * dyaw
    c, s = np.cos(mid), np.sin(mid)
    return np.stack([c * step[:, 0] + s * step[:, 1], -s * step[:, 0] + c * step[:, 1], dyaw],
                    axis=1)


def planar_velocity(positions: np.ndarray, yaws: np.ndarray, dt: float) -> np.ndarray:
    """Mean forward speed, lateral speed and yaw rate of a base trajectory.

    Each step's horizontal displacement is expressed in the heading frame halfway through
    the step, so a turning or side-stepping motion is judged in its own body frame.

    Args:
        positions: (N, 3) base positions (m), N ≥ 2, one per ``dt``.
        yaws: (N,) headings (rad); unwrapped here.
        dt: Time between samples (s).

    Returns:
        (3,) mean forward speed (m/s), lateral speed (m/s, left positive), yaw rate (rad/s).
    """
    steps = planar_steps(positions, yaws)
    if len(steps) == 0:
        return np.zeros(3)
    return steps.mean(axis=0) / dt
