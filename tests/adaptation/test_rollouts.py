"""A steerable policy on a command script through the deploy controller on a robot backend
(``quadmimic eval --backend mujoco --commands``), on the real MuJoCo robot."""

from __future__ import annotations

import json

import numpy as np
import pytest

from adaptation.rollouts import evaluate_commands_on_backend
from quadmimic.core.errors import BundleError
from sim_training.bundle import PolicyBundle
from sim_training.commands import CommandScript, motion_clip_command
from tests.conftest import REPO, run_cli


def test_the_clip_s_own_command_is_tracked_as_the_trot_walks(go2_steer, tmp_path):
    """The steerable run acts as the trot (zero weights on its command inputs): on the
    clip's own command PyBullet's Go2 behind the controller (the ``sim`` backend) walks its
    speed without a fall, and the figures come from the robot's ground-truth path."""
    bundle = PolicyBundle.load(go2_steer)
    clip = motion_clip_command(bundle.motion_path, bundle.robot)
    script = CommandScript("clip", ((4.0, tuple(clip)),))
    out = evaluate_commands_on_backend(bundle, "sim", script, episodes=1, seed=2,
                                       plot=tmp_path / "track.png",
                                       json_out=tmp_path / "c.json")
    assert out.backend == "sim" and out.robot == "go2" and out.episodes == 1
    assert 0.0 < out.action_change < 2.0  # the actions the controller sent, step by step
    assert out.falls == 0 and out.per_episode[0]["trip"] is None
    assert out.per_episode[0]["seconds"] == pytest.approx(4.0, abs=0.05)
    assert out.per_episode[0]["played"] == [[4.0, [float(v) for v in clip]]]
    # Settled windows at 1 s..4 s (measured on 2026-12-07: 10 %).
    assert out.speed_error is not None and out.speed_error < 0.3
    assert out.yaw_rate_error is not None and out.yaw_rate_error < 0.3
    assert out.pose_at_clip_speed is not None and 0.3 < out.pose_at_clip_speed <= 1.0
    assert out.physics_hz >= 1000.0
    saved = json.loads((tmp_path / "c.json").read_text())
    assert saved["backend"] == "sim" and saved["speed_error"] == out.speed_error
    assert (tmp_path / "track.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_policy_without_commands_is_refused():
    trot = PolicyBundle.load(REPO / "data" / "policies" / "go2_trot")
    with pytest.raises(BundleError, match="takes no command"):
        evaluate_commands_on_backend(trot, "mujoco", CommandScript("x", ((1.0, (1, 0, 0)),)))


def test_eval_on_the_mujoco_backend_with_commands_through_the_cli(go2_steer, tmp_path):
    """``quadmimic eval RUN --backend mujoco --commands start_stop``: the MuJoCo robot, the
    table names the backend and the figures; --gif is refused there in one line (exit 2)."""
    out = tmp_path / "m.json"
    proc = run_cli("eval", str(go2_steer), "--backend", "mujoco", "--commands", "start_stop",
                   "--episodes", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = proc.stdout + proc.stderr
    for figure in ("on the mujoco backend", "speed error", "yaw-rate error", "falls"):
        assert figure in table, table
    result = json.loads(out.read_text())
    assert result["backend"] == "mujoco" and len(result["per_episode"]) == 1
    assert np.isfinite(result["mean_pose"])
    bad = run_cli("eval", str(go2_steer), "--backend", "mujoco", "--commands", "start_stop",
                  "--gif", str(tmp_path / "x.gif"), timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "--gif is for the pybullet env" in bad.stderr
    assert not (tmp_path / "x.gif").exists()
