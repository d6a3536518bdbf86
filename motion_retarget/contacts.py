"""Foot contacts: stance detection from a clip, and stance pinning of foot targets.

All functions are pure and vectorised over frames. Arrays of foot quantities are (T, 4[, 3])
with feet in project order FR, FL, RR, RL; contact masks are boolean (T, 4).
"""

from __future__ import annotations

import numpy as np


def lowpass(x: np.ndarray, fps: float, cutoff_hz: float) -> np.ndarray:
    """Zero-phase low-pass along axis 0 (time): a Gaussian kernel, edges extended oddly.

    The kernel is symmetric, so there is no phase lag; the odd (point-reflected) extension at
    both ends keeps linear trends exact, so a walking root is not pulled back at the clip's
    ends. ``cutoff_hz`` is the half-power frequency: sigma = 0.1325 / cutoff_hz seconds.
    Written with numpy instead of ``scipy.signal.filtfilt`` because importing scipy.signal
    alone took 0.7-1.0 s here, a quarter of the whole ``quadmimic retarget`` run on
    dog_walk09; the Gaussian also never overshoots, which keeps toe heights >= ground.

    Args:
        x: (T, ...) samples at ``fps``.
        fps: Sample rate (Hz).
        cutoff_hz: Half-power frequency (Hz); <= 0 or at/above Nyquist returns a copy.

    Returns:
        Filtered copy of ``x`` (T, ...).
    """
    x = np.asarray(x, dtype=np.float64)
    num = x.shape[0]
    if cutoff_hz <= 0 or cutoff_hz >= 0.5 * fps or num < 3:
        return x.copy()
    sigma = 0.1325 * fps / cutoff_hz
    radius = min(int(np.ceil(4.0 * sigma)), num - 1)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    head = 2.0 * x[0] - x[radius:0:-1]
    tail = 2.0 * x[-1] - x[-2:-radius - 2:-1]
    padded = np.concatenate([head, x, tail])
    out = np.zeros_like(x)
    for k, w in enumerate(taps):
        out += w * padded[k:k + num]
    return out


def ground_levels(toe_heights: np.ndarray, percentile: float = 5.0) -> np.ndarray:
    """Per-toe ground level (4,) m: a low percentile of each toe keypoint's height.

    A toe keypoint marks a site on the paw, not its sole, so each sits at its own height when
    planted (front toes of the dog clips at about 2 cm, hind toes at about 0.5 cm).
    """
    return np.percentile(toe_heights, percentile, axis=0)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index ranges [a, b) of the True runs of a 1-D boolean mask."""
    padded = np.r_[False, mask, False].astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True))


def clean_mask(mask: np.ndarray, min_on: int, min_off: int) -> np.ndarray:
    """Fill False gaps shorter than ``min_off`` frames, then drop True runs shorter than ``min_on``.

    Args:
        mask: (T,) or (T, F) boolean, time along axis 0.
        min_on: Shortest kept True run (frames).
        min_off: Shortest kept False gap between two True runs (frames).

    Returns:
        Cleaned copy, same shape.
    """
    out = np.array(mask, dtype=bool, copy=True)
    cols = out.reshape(out.shape[0], -1)
    for c in range(cols.shape[1]):
        col = cols[:, c]
        for a, b in _runs(~col):
            if a > 0 and b < len(col) and b - a < min_off:
                col[a:b] = True
        for a, b in _runs(col):
            if b - a < min_on:
                col[a:b] = False
    return out


def detect_stance(
    heights: np.ndarray,
    speeds: np.ndarray,
    height_threshold: float,
    speed_threshold: float,
    min_stance_frames: int = 3,
    min_swing_frames: int = 2,
) -> np.ndarray:
    """Stance mask (T, 4): the foot is low and slow, cleaned of flicker.

    Args:
        heights: (T, 4) toe height above its ground level (m).
        speeds: (T, 4) horizontal toe speed (m/s).
        height_threshold: Highest stance height (m).
        speed_threshold: Fastest stance speed (m/s).
        min_stance_frames: Shorter stance runs are dropped.
        min_swing_frames: Shorter swing gaps between stances are filled.
    """
    raw = (heights < height_threshold) & (speeds < speed_threshold)
    return clean_mask(raw, min_stance_frames, min_swing_frames)


def horizontal_speed(positions: np.ndarray, fps: float) -> np.ndarray:
    """Horizontal speed (T, ...) m/s of positions (T, ..., 3) by central differences."""
    xy = positions[..., :2]
    if xy.shape[0] < 2:
        return np.zeros(xy.shape[:-1])
    vel = np.gradient(xy, 1.0 / fps, axis=0)
    return np.linalg.norm(vel, axis=-1)


def pin_stance(targets: np.ndarray, stance: np.ndarray, ground_z: float) -> np.ndarray:
    """Foot targets with planted feet: no sliding in stance, continuous in swing.

    Each stance run of a foot is pinned at its median horizontal position and at
    ``ground_z``. Swing frames keep their own motion plus an offset that blends smoothly
    (smoothstep) from the previous stance's pin correction to the next one's, so a foot
    lifts off where it was planted and lands where it will be planted; swing heights are
    kept at or above ``ground_z``.

    Args:
        targets: (T, 4, 3) foot targets (m).
        stance: (T, 4) stance mask.
        ground_z: Foot-centre height on the ground (m), i.e. the foot radius.

    Returns:
        (T, 4, 3) pinned targets.
    """
    out = targets.copy()
    num = targets.shape[0]
    for foot in range(targets.shape[1]):
        runs = _runs(stance[:, foot])
        corrections: list[tuple[int, int, np.ndarray, np.ndarray]] = []
        for a, b in runs:
            pin_xy = np.median(targets[a:b, foot, :2], axis=0)
            out[a:b, foot, :2] = pin_xy
            out[a:b, foot, 2] = ground_z
            start = np.r_[pin_xy - targets[a, foot, :2], 0.0]
            end = np.r_[pin_xy - targets[b - 1, foot, :2], 0.0]
            corrections.append((a, b, start, end))
        # Swing: blend from the last stance's end correction to the next stance's start one.
        for k in range(len(corrections) + 1):
            lo = corrections[k - 1][1] if k > 0 else 0
            hi = corrections[k][0] if k < len(corrections) else num
            if hi <= lo:
                continue
            off_a = corrections[k - 1][3] if k > 0 else None
            off_b = corrections[k][2] if k < len(corrections) else None
            if off_a is None and off_b is None:
                continue
            if off_a is None:
                off_a = off_b
            if off_b is None:
                off_b = off_a
            t = (np.arange(lo, hi) - (lo - 1)) / (hi - lo + 1)
            s = (t * t * (3.0 - 2.0 * t))[:, None]
            out[lo:hi, foot] += (1.0 - s) * off_a + s * off_b
        np.maximum(out[:, foot, 2], ground_z, out=out[:, foot, 2])
    return out


def stance_runs(stance: np.ndarray) -> list[list[tuple[int, int]]]:
    """Per foot, the half-open frame ranges [a, b) of its stance runs."""
    return [_runs(stance[:, foot]) for foot in range(stance.shape[1])]
