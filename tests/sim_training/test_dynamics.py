"""Dynamics params and domain randomisation."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quadmimic.core.errors import DynamicsError
from sim_training.dynamics import (
    DYNAMICS_KEYS,
    NOMINAL,
    dynamics_from,
    dynamics_vector,
    save_dynamics,
)
from sim_training.randomization import RandomizationRanges, sample_dynamics


def test_missing_keys_are_nominal_and_order_is_fixed(tmp_path):
    d = dynamics_from({"latency_s": 0.02})
    assert list(d) == list(DYNAMICS_KEYS) and d["latency_s"] == 0.02
    assert d["base_mass_scale"] == NOMINAL["base_mass_scale"]
    vec = dynamics_vector(d)
    assert vec.dtype == np.float32 and vec.shape == (len(DYNAMICS_KEYS),)
    assert vec[DYNAMICS_KEYS.index("latency_s")] == pytest.approx(0.02)
    path = save_dynamics({"foot_friction": 0.4}, tmp_path / "d.json")
    assert dynamics_from(path)["foot_friction"] == 0.4
    assert dynamics_from(None) == NOMINAL


@pytest.mark.parametrize(
    ("value", "message"),
    [({"mass": 1.0}, "unknown dynamics key 'mass'"),
     ({"latency_s": -0.01}, "latency_s = -0.01 is impossible"),
     ({"restitution": float("nan")}, "restitution"),
     ({"kp_scale": "high"}, "kp_scale must be a number"),
     ({"kd_scale": True}, "kd_scale must be a number")],
)
def test_bad_values_are_errors(value, message):
    with pytest.raises(DynamicsError, match=message):
        dynamics_from(value)


def test_bad_files_name_the_file_and_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "latency_s": 0.01,\n  oops\n}')
    with pytest.raises(DynamicsError, match=r"bad\.json, line 3"):
        dynamics_from(bad)
    with pytest.raises(DynamicsError, match="cannot read"):
        dynamics_from(tmp_path / "missing.json")
    (tmp_path / "list.json").write_text(json.dumps([1, 2]))
    with pytest.raises(DynamicsError, match="one JSON object"):
        dynamics_from(tmp_path / "list.json")


def test_sampling_is_pure_and_stays_in_range():
    ranges = RandomizationRanges()
    a = [sample_dynamics(ranges, np.random.default_rng(3)) for _ in range(2)]
    assert a[0] == a[1]  # same rng state, same params: nothing else is read
    rng = np.random.default_rng(0)
    for _ in range(200):
        d = sample_dynamics(ranges, rng)
        for key in DYNAMICS_KEYS:
            lo, hi = getattr(ranges, key)
            assert lo <= d[key] <= hi


def test_widening_interpolates_from_nominal():
    ranges = RandomizationRanges()
    assert ranges.widened(1.0) == ranges
    zero = ranges.widened(0.0)
    for key in DYNAMICS_KEYS:
        lo, hi = getattr(zero, key)
        assert lo == hi == pytest.approx(np.clip(NOMINAL[key], *getattr(ranges, key)))
    half = ranges.widened(0.5)
    assert half.inertia_scale == pytest.approx((0.75, 1.25))
    with pytest.raises(DynamicsError):
        RandomizationRanges(latency_s=(0.05, 0.01))
