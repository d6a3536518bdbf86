"""Contact detection and stance pinning, on hand-made signals."""

from __future__ import annotations

import numpy as np

from motion_retarget import contacts


def test_lowpass_is_zero_phase_and_keeps_slow_signals():
    fps = 60.0
    t = np.arange(240) / fps
    slow = np.sin(2 * np.pi * 1.0 * t)
    fast = 0.2 * np.sin(2 * np.pi * 25.0 * t)
    out = contacts.lowpass(slow + fast, fps, 6.0)
    mid = slice(30, -30)
    np.testing.assert_allclose(out[mid], slow[mid], atol=0.02)  # no lag, fast part gone
    assert np.argmax(out[:60]) == np.argmax(slow[:60])  # peaks stay where they were
    ramp = np.c_[0.7 * t, -0.2 * t + 1.0]
    np.testing.assert_allclose(contacts.lowpass(ramp, fps, 6.0), ramp, atol=1e-12)  # to the end
    np.testing.assert_array_equal(contacts.lowpass(slow[:2], fps, 6.0), slow[:2])  # too short


def test_clean_mask_fills_gaps_and_drops_flicker():
    m = np.array([0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0], dtype=bool)
    out = contacts.clean_mask(m, min_on=3, min_off=2)
    expected = np.array([0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0], dtype=bool)
    np.testing.assert_array_equal(out, expected)


def test_detect_stance_needs_low_and_slow():
    heights = np.array([0.0, 0.0, 0.0, 0.1, 0.1, 0.0, 0.0, 0.0])[:, None].repeat(4, 1)
    speeds = np.array([0.0, 0.0, 0.0, 0.0, 2.0, 2.0, 0.0, 0.0])[:, None].repeat(4, 1)
    st = contacts.detect_stance(heights, speeds, 0.05, 0.5, min_stance_frames=2,
                                min_swing_frames=1)
    np.testing.assert_array_equal(st[:, 0], [1, 1, 1, 0, 0, 0, 1, 1])


def test_pin_stance_plants_feet_and_keeps_swing_continuous():
    num = 40
    t = np.arange(num)
    targets = np.zeros((num, 4, 3))
    targets[..., 0] = 0.01 * t[:, None]  # the foot target drifts forward 1 cm per frame
    targets[..., 2] = 0.05
    stance = np.zeros((num, 4), dtype=bool)
    stance[5:15] = True
    stance[25:35] = True
    out = contacts.pin_stance(targets, stance, ground_z=0.02)
    for a, b in ((5, 15), (25, 35)):
        assert np.ptp(out[a:b, :, 0]) == 0.0  # no sliding at all
        np.testing.assert_allclose(out[a:b, :, 2], 0.02)
        np.testing.assert_allclose(out[a, 0, 0], np.median(targets[a:b, 0, 0]))
    # Swing between the stances is continuous with both pins (steps of about the drift).
    steps = np.abs(np.diff(out[:, 0, 0]))
    assert steps.max() < 0.03
    assert np.all(out[..., 2] >= 0.02)
