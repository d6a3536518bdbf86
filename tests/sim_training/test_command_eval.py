"""``eval --commands``: the tracking figures on a known track, and a real steerable policy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from quadmimic.core.errors import BundleError
from sim_training.bundle import PolicyBundle
from sim_training.command_eval import (
    SETTLE_S,
    CommandLog,
    _pooled,
    evaluate_commands,
    speed_bias,
    speed_error_by_playback,
)
from sim_training.commands import CommandConfig, CommandScript, load_command_script
from tests.conftest import REPO

STEER = CommandConfig(enabled=True)
DT = 1.0 / 30.0
TROT = REPO / "data" / "policies" / "go2_trot"


def _arc(speed: float, yaw_rate: float, t: np.ndarray) -> np.ndarray:
    """(x, y, yaw) of a robot on a circle at ``speed`` (m/s) and ``yaw_rate`` (rad/s)."""
    radius = speed / yaw_rate
    yaw = yaw_rate * t
    return np.stack([radius * np.sin(yaw), radius * (1.0 - np.cos(yaw)), yaw], axis=1)


def test_figures_of_a_known_track():
    """Commanded 1.0 m/s at 0.5 rad/s, driven at 0.9 m/s and 0.4 rad/s for 4 s, then 1.5 m/s
    commanded and taken up 0.6 s later: errors 10 % (the chord of a 0.5 s window a little
    shorter than its arc) and 0.1 rad/s, the response 0.6 s, the pose term where the clip
    plays at its own rate."""
    clip = np.array([1.0, 0.0, 0.0])
    n1, n2 = 120, 90
    t = np.arange(n1 + n2 + 1) * DT
    track = _arc(0.9, 0.4, t[:n1 + 1])
    take_up = 18  # steps (0.6 s) at the old speed after the change
    x, y, yaw = track[-1]
    for k in range(1, n2 + 1):
        speed = 0.9 if k <= take_up else 1.5
        x, y = x + speed * DT * math.cos(yaw), y + speed * DT * math.sin(yaw)
        track = np.vstack([track, [x, y, yaw]])
    log = CommandLog()
    log.robot = [tuple(row) for row in track]
    log.commands = [np.array([1.0, 0.0, 0.5])] * (n1 + 1) + [np.array([1.5, 0.0, 0.0])] * n2
    log.rates = [1.0] * (n1 + 1) + [1.5] * n2
    log.weights = [1.0] * (n1 + n2 + 1)
    log.pose = [0.6] * n1 + [0.3] * n2
    out = log.figures(STEER, clip, DT, fell=False)
    width = 15
    first = [w for w in range(0, n1 - width + 1, width) if w >= round(SETTLE_S / DT)]
    chord = 2.0 * (0.9 / 0.4) * math.sin(0.4 * width * DT / 2.0) / (width * DT)
    arc_error = 1.0 - chord  # the 0.9 m/s robot's chord speed against 1.0 commanded
    speed_errors = [arc_error] * len(first)
    change = n1 + 1  # the first step of the new command
    second = [w for w in range(0, n1 + n2 - width + 1, width)
              if w >= change + round(SETTLE_S / DT)]
    assert second and all(w > change + take_up for w in second)  # settled: taken up
    speed_errors += [0.0] * len(second)
    assert out["speed_error"] == pytest.approx(np.mean(speed_errors), abs=1e-9)
    yaw_errors = [0.1] * len(first) + [0.0] * len(second)
    assert out["yaw_rate_error"] == pytest.approx(np.mean(yaw_errors), abs=1e-9)
    # Taken up when a 15-step window holds 10 steps at 1.5 m/s (its mean within 15 %: 1.3).
    assert out["responses"] == [pytest.approx((n1 + take_up + 10 - change) * DT)]
    assert out["pose_at_clip_speed"] == pytest.approx(0.6)
    assert out["clip_speed_steps"] == n1 and not out["fell"]
    # Per band of the playback range: the arc's error at the clip's rate, none at 1.5x.
    assert out["speed_window_rates"] == [1.0] * len(first) + [1.5] * len(second)
    bands = speed_error_by_playback([out], STEER.playback_range)
    assert list(bands) == ["0.50-0.83x", "0.83-1.17x", "1.17-1.50x"]
    assert bands["0.50-0.83x"] is None
    assert bands["0.83-1.17x"] == pytest.approx(arc_error, abs=1e-9)
    assert bands["1.17-1.50x"] == pytest.approx(0.0, abs=1e-9)
    # The arc's error is all forward (the chord lies along the mid heading): short of the
    # command, with no lateral part.
    bias = speed_bias([out])
    assert bias["forward"] == pytest.approx(-np.mean(speed_errors), abs=1e-9)
    assert bias["lateral"] == pytest.approx(0.0, abs=1e-9)


def test_the_action_change_is_the_mean_step_of_the_clipped_actions():
    """Actions 0 → 0.5 → −0.5 → 2 (clipped to 1) on every component: steps 0.5, 1.0, 1.5;
    episodes pool by their steps; a log without two actions has none."""
    log = CommandLog()
    log.record((0.0, 0.0, 0.0), (0.0, 0.0), np.zeros(3), 1.0, 1.0, None)
    for k, a in enumerate((0.0, 0.5, -0.5, 2.0)):
        log.record((0.01 * k, 0.0, 0.0), (0.0, 0.0), np.zeros(3), 1.0, 1.0, 0.5,
                   np.full(12, a))
    out = log.figures(STEER, np.array([1.0, 0.0, 0.0]), DT, fell=False)
    assert out["action_change"] == pytest.approx(1.0) and out["action_steps"] == 3
    rows = [{"action_change": 1.0, "action_steps": 3}, {"action_change": 0.2, "action_steps": 1},
            {"action_change": None, "action_steps": 0}]
    assert _pooled(rows, "action_change", "action_steps") == pytest.approx(0.8)
    empty = CommandLog()
    empty.record((0.0, 0.0, 0.0), (0.0, 0.0), np.zeros(3), 1.0, 1.0, None)
    assert empty.figures(STEER, np.array([1.0, 0.0, 0.0]), DT, fell=False)[
        "action_change"] is None


def test_speed_error_bands_pool_every_episode():
    """Windows from several episodes land in the band of their playback rate; a rate on a
    border goes to the faster band and the highest rate to the last."""
    rows = [{"speed_window_rates": [0.5, 0.9, 1.5], "speed_window_errors": [0.1, 0.2, 0.6]},
            {"speed_window_rates": [1.0, 1.25], "speed_window_errors": [0.4, 0.2]}]
    bands = speed_error_by_playback(rows, (0.5, 1.5), bands=2)
    assert bands == {"0.50-1.00x": pytest.approx(0.15), "1.00-1.50x": pytest.approx(0.4)}


def test_speed_bias_keeps_the_sign_of_each_component():
    """A robot faster than its command on one window and slower sideways on another: the
    means keep their signs, where the speed error (a norm) would not."""
    rows = [{"speed_window_bias": [[0.2, 0.0], [-0.1, -0.3]]}, {"speed_window_bias": []}]
    assert speed_bias(rows) == {"forward": pytest.approx(0.05), "lateral": pytest.approx(-0.15)}
    assert speed_bias([{"speed_window_bias": []}]) == {"forward": None, "lateral": None}


def test_a_steerable_policy_on_the_random_script(go2_steer, tmp_path):
    """Each episode plays its own drawn commands; the JSON and the plot are written."""
    steerable = PolicyBundle.load(go2_steer)
    clip = np.array([1.2, 0.0, 0.0])
    script = load_command_script("random", clip, steerable.config.env.commands)
    short = CommandScript(script.name, ((1.0, (1.2, 0.0, 0.0)), (1.0, (1.2, 0.0, 0.4))),
                          redraw=lambda seed: CommandScript(
                              "random", ((2.0, (0.6 + 0.1 * seed, 0.0, 0.0)),)))
    out = evaluate_commands(steerable, short, episodes=2, seed=3,
                            json_out=tmp_path / "c.json", plot=tmp_path / "c.png")
    assert out.episodes == 2 and len(out.per_episode) == 2 and out.script == "random"
    assert out.script_seconds == 2.0
    assert 0.0 < out.action_change < 2.0  # the policy's actions, recorded step by step
    assert json.loads((tmp_path / "c.json").read_text())["falls"] == out.falls
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The episodes played their own draws (seeds 3 and 4), not the script they were given.
    assert [r["played"] for r in out.per_episode] == [[[2.0, [0.9, 0.0, 0.0]]],
                                                      [[2.0, [1.0, 0.0, 0.0]]]]
    assert script.for_episode(3) != script.for_episode(4)


def test_a_policy_without_commands_is_refused():
    clip = np.array([1.2, 0.0, 0.0])
    with pytest.raises(BundleError, match="takes no command"):
        evaluate_commands(PolicyBundle.load(TROT), load_command_script("figure_eight", clip))
