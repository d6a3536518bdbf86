"""The ``quadmimic`` command as a user runs it: a real process, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest

from motion_retarget.motion_file import load_motion
from tests.conftest import DEFAULT_CLIPS, MOCAP_RAW, REFERENCE_MOTIONS, run_cli


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=cwd)


def test_retarget_writes_motion_report_and_preview(tmp_path):
    out, rep, gif = tmp_path / "m.txt", tmp_path / "r.json", tmp_path / "p.gif"
    proc = run("retarget", str(MOCAP_RAW / "dog_walk03_joint_pos.txt"), "--robot", "go1",
               "--out", str(out), "--report", str(rep), "--preview", str(gif),
               "--start", "2", "--end", "4")
    assert proc.returncode == 0, proc.stderr
    motion = load_motion(out)
    assert motion.num_frames == 121  # 2 s at 60 Hz, both ends included
    report = json.loads(rep.read_text())
    assert report["robot"] == "go1" and report["frames"] == 121
    for key in ("toe_error_mean_m", "toe_error_max_m", "stance_slide_max_m",
                "penetration_max_m", "joint_limit_violations", "contact_agreement"):
        assert key in report["all"] and key in report["locomotion"]
    assert report["timing"]["frames_per_second"] > 0
    frames = iio.imread(gif)
    assert frames.ndim == 4 and frames.shape[0] > 10  # an animation
    assert frames.std() > 1.0  # not a blank image
    assert list(tmp_path.iterdir()) == sorted(tmp_path.iterdir(), key=str) or True
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_motion_preview_of_a_paper_reference_motion(tmp_path):
    gif = tmp_path / "ref.gif"
    ref = REFERENCE_MOTIONS / "dog_pace.txt"
    proc = run("motion", "preview", str(ref), "--robot", "laikago", "--out", str(gif),
               "--max-frames", "8")
    assert proc.returncode == 0, proc.stderr
    assert iio.imread(gif).shape[0] == 8


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no frames"),
        ("1.0, 2.0, 3.0\n", "line 1"),
        ("nan, " * 80 + "nan\n", "line 1"),
    ],
)
def test_bad_clip_gives_one_clear_line_and_no_output(tmp_path, content, message):
    clip = tmp_path / "bad_joint_pos.txt"
    clip.write_text(content)
    out = tmp_path / "out.txt"
    out.write_text("keep me")  # an earlier result must survive a failed run
    proc = run("retarget", str(clip), "--out", str(out))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "error:" in proc.stderr and str(clip.name) in proc.stderr
    assert message in proc.stderr.lower()
    assert out.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad_joint_pos.txt", "out.txt"]


def test_missing_clip_and_unknown_robot_are_clear_errors(tmp_path):
    proc = run("retarget", str(tmp_path / "nope.txt"), "--out", str(tmp_path / "o.txt"))
    assert proc.returncode == 2 and "nope.txt" in proc.stderr and "Traceback" not in proc.stderr
    proc = run("retarget", str(DEFAULT_CLIPS / "dog_trot_joint_pos.txt"), "--robot", "spot",
               "--out", str(tmp_path / "o.txt"))
    assert proc.returncode == 2 and "unknown robot 'spot'" in proc.stderr
    assert not (tmp_path / "o.txt").exists()


@pytest.mark.slow
def test_demo_runs_the_whole_pipeline(tmp_path, tiny_policy):
    """Retarget, evaluate, adapt on the go1-udp emulator (MuJoCo), deploy, report (tiny
    budgets)."""
    proc = subprocess.run(
        [sys.executable, "-m", "quadmimic", "demo", "--out", str(tmp_path), "--policy",
         str(tiny_policy), "--rollouts", "5", "--rollout-seconds", "1", "--deploy-seconds",
         "2", "--episodes", "1", "--emulator-rollouts", "2"], capture_output=True, text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = {p.name for p in tmp_path.iterdir()}
    assert {"a1_trot.txt", "a1_trot_report.json", "a1_trot_preview.gif", "report.md",
            "figures.json", "eval_nominal.gif", "eval_held_out_prior.json", "deploy.jsonl",
            "a1_trot_adapted"} <= names
    assert load_motion(tmp_path / "a1_trot.txt").num_frames == 33
    figures = json.loads((tmp_path / "figures.json").read_text())
    # The adapted z is evaluated on its own unless the search kept the prior (then its rows
    # are the prior's, marked so).
    kept = figures["eval"]["held_out_adapted"].get("same_as")
    assert kept in (None, "prior")
    assert ("eval_held_out_adapted.json" in names) == (kept is None)
    assert figures["physics"] == "mujoco"  # the "real" robot is the second engine
    assert figures["adapt"]["rollouts"] == 5 and figures["adapt"]["rounds"] == 1
    assert figures["adapt"]["start"] == "prior"  # the tiny run carries no estimator
    # Fresh emulator rollouts of the prior and the adapted z (the final incumbent).
    assert set(figures["emulator"]) >= {"prior", "adapted"}
    assert figures["emulator"]["adapted"]["returns"][0] >= 0.0
    assert json.loads((tmp_path / "a1_trot_adapted" / "z.json").read_text())["z"] == (
        figures["adapt"]["final_z"])
    assert len(json.loads((tmp_path / "a1_trot_adapted" / "z.json").read_text())["z"]) == 8
    deploy = figures["deploy"]
    assert deploy["commands"] > 100  # the 500 Hz stream reached the emulator over UDP
    assert deploy["emulator_counters"]["commands"] > 100
    report = (tmp_path / "report.md").read_text()
    assert figures["adapt"]["final"] == "fixed"  # from the prior the result is a fixed z
    assert "**In short:** The adaptation's result " in report and "(prior, " in report
    for link in ("a1_trot_preview.gif", "adapt_session/returns.png", "deploy.jsonl"):
        assert f"({link})" in report and (tmp_path / link).exists()


def test_demo_without_a_policy_fails_clearly(tmp_path):
    proc = run("demo", "--out", str(tmp_path), "--policy", str(tmp_path / "none"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "none" in proc.stderr


def test_version_is_the_installed_package_version():
    import importlib.metadata

    proc = run("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"quadmimic {importlib.metadata.version('quadmimic')}"


def test_safety_trips_go_to_the_log_and_one_summary_line_to_the_terminal(tmp_path):
    """A shove that topples the robot trips the safety layer in every run: the terminal gets
    one summary line for the command, not a line per trip (those go to the log)."""
    policy = str(DEFAULT_CLIPS.parents[0] / "policies" / "a1_trot")
    proc = run("bench", "robustness", "--json", str(tmp_path / "r.json"), "--policy", policy,
               "--runs", "2", "--seconds", "1", "--shove-at", "0.3", "--shove-speed", "4")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "safety trip" not in proc.stderr
    summary = [line for line in proc.stderr.splitlines() if line.startswith("safety layer:")]
    assert summary == ["safety layer: 2 trips (tilt 2); quadmimic --verbose prints each"]


def test_eval_with_a_command_script_prints_the_tracking_figures(tmp_path, go2_steer):
    """``quadmimic eval RUN --commands figure_eight``: the table names the speed error, its
    bias and the yaw-rate error, and the JSON holds the same figures."""
    out = tmp_path / "cmd.json"
    proc = run("eval", str(go2_steer), "--commands", "start_stop", "--episodes", "1",
               "--json", str(out), "--plot", str(tmp_path / "track.png"))
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout + proc.stderr  # the tables go to the console (stderr)
    for figure in ("speed error", "speed bias", "yaw-rate error", "falls"):
        assert figure in table, table
    result = json.loads(out.read_text())
    assert set(result["speed_bias"]) == {"forward", "lateral"}
    if result["speed_error"] is not None:
        forward, lateral = result["speed_bias"]["forward"], result["speed_bias"]["lateral"]
        assert abs(forward) <= result["speed_error"] + 1e-9  # a component within the norm
        assert abs(lateral) <= result["speed_error"] + 1e-9
    assert (tmp_path / "track.png").read_bytes()[:4] == b"\x89PNG"
