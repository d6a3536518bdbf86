"""Every bad input: one line naming what and where, exit code 2, no traceback, nothing
half-written. Table-driven: each case is a real ``quadmimic`` process, as a user runs it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import DEFAULT_CLIPS, REPO

MOTION = str(REPO / "data" / "motions" / "a1_trot.txt")
CLIP = str(DEFAULT_CLIPS / "dog_trot_joint_pos.txt")


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _busy_udp_port(tmp: Path) -> str:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    _busy_udp_port.keep = sock  # held for the duration of the case
    return str(sock.getsockname()[1])


def _free_udp_port(tmp: Path) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


# (case id, argv builder (tmp, tiny policy) -> args, words the one line must contain,
#  paths (relative to tmp) that must not exist afterwards)
Case = tuple[str, Callable[[Path, Path], list[str]], tuple[str, ...], tuple[str, ...]]
CASES: list[Case] = [
    ("retarget-missing-clip", lambda t, p: ["retarget", str(t / "nope.txt"), "--robot", "go2",
                                            "--out", str(t / "m.txt")], ("nope.txt",), ("m.txt",)),
    ("retarget-malformed-clip", lambda t, p: ["retarget", _write(t / "c.txt", "1 2 3\nx y\n"),
                                              "--out", str(t / "m.txt")], ("c.txt", "line"),
     ("m.txt",)),
    ("retarget-unknown-robot", lambda t, p: ["retarget", CLIP, "--robot", "spot", "--out",
                                             str(t / "m.txt")], ("spot",), ("m.txt",)),
    ("retarget-roles-missing", lambda t, p: ["retarget", CLIP, "--roles", str(t / "r.toml"),
                                             "--out", str(t / "m.txt")], ("r.toml", "not found"),
     ("m.txt",)),
    ("retarget-roles-bad-toml", lambda t, p: ["retarget", CLIP, "--roles",
                                              _write(t / "r.toml", 'pelvis = "a\n'), "--out",
                                              str(t / "m.txt")], ("r.toml", "TOML"), ("m.txt",)),
    ("retarget-roles-no-such-joint", lambda t, p: ["retarget", CLIP, "--roles",
                                                   _write(t / "r.json", '{"neck": "Collar"}'),
                                                   "--out", str(t / "m.txt")],
     ("'Collar'", "HeadSite"), ("m.txt",)),
    ("retarget-from-malformed-motion", lambda t, p: ["retarget", _write(t / "s.txt", "{"),
                                                     "--from", "laikago", "--robot", "go2",
                                                     "--out", str(t / "m.txt")], ("s.txt",),
     ("m.txt",)),
    ("retarget-from-unknown-robot", lambda t, p: ["retarget", MOTION, "--from", "spot",
                                                  "--out", str(t / "m.txt")], ("spot",),
     ("m.txt",)),
    ("retarget-cycle-unknown", lambda t, p: ["retarget", CLIP, "--cycle", "best", "--out",
                                             str(t / "m.txt")], ("--cycle",), ("m.txt",)),
    ("retarget-preview-style-unknown", lambda t, p: ["retarget", CLIP, "--preview-style", "oil",
                                                     "--out", str(t / "m.txt")],
     ("--preview-style",), ("m.txt",)),
    ("motion-preview-style-unknown", lambda t, p: ["motion", "preview", MOTION, "--style", "oil",
                                                   "--out", str(t / "p.gif")], ("--style",),
     ("p.gif",)),
    ("skills-no-bundles", lambda t, p: ["skills", str(t)], ("no policy bundle",), ()),
    ("motion-preview-malformed", lambda t, p: ["motion", "preview", _write(t / "m.txt", "{"),
                                               "--out", str(t / "p.gif")], ("m.txt",),
     ("p.gif",)),
    ("train-missing-motion", lambda t, p: ["train", str(t / "none.txt"), "--out",
                                           str(t / "run")], ("none.txt", "not found"), ("run",)),
    ("train-malformed-motion", lambda t, p: ["train", _write(t / "m.txt", "not json"), "--out",
                                             str(t / "run")], ("m.txt",), ("run",)),
    ("train-wrong-frame-size", lambda t, p: ["train", _write(t / "m.txt", json.dumps(
        {"LoopMode": "Wrap", "FrameDuration": 0.02, "Frames": [[0.0] * 10, [0.0] * 10]})),
        "--out", str(t / "run")], ("m.txt",), ("run",)),
    ("train-envs-do-not-split", lambda t, p: ["train", MOTION, "--out", str(t / "run"),
                                              "--num-envs", "30"], ("num_envs", "30"), ("run",)),
    ("train-init-from-no-policy", lambda t, p: ["train", MOTION, "--out", str(t / "run"),
                                                "--init-from", str(t)], ("policy.pt",),
     ("run",)),
    ("train-unknown-robot", lambda t, p: ["train", MOTION, "--robot", "spot", "--out",
                                          str(t / "run")], ("spot",), ("run",)),
    ("train-standing-starts-out-of-range", lambda t, p: ["train", MOTION, "--out",
                                                         str(t / "run"), "--standing-starts",
                                                         "1.5"], ("standing_start_fraction",),
     ("run",)),
    ("train-env-config-unknown-field", lambda t, p: [
        "train", MOTION, "--out", str(t / "run"), "--env-config",
        _write(t / "env.json", '{"push_speed": 0.5, "pushes": 3}')], ("env.json", "pushes"),
     ("run",)),
    ("train-env-config-range-outside-limits", lambda t, p: [
        "train", MOTION, "--out", str(t / "run"), "--env-config",
        _write(t / "env.toml", "[ranges]\nlatency_s = [0.0, 0.5]\n")],
     ("env.toml", "latency_s"), ("run",)),
    ("train-env-config-bad-json", lambda t, p: [
        "train", MOTION, "--out", str(t / "run"), "--env-config",
        _write(t / "env.json", '{"push_speed": }')], ("env.json", "line 1", "JSON"), ("run",)),
    ("train-without-out", lambda t, p: ["train", MOTION], ("--out",), ()),
    ("train-resume-not-a-run", lambda t, p: ["train", "--resume", str(t)], ("config.json",),
     ()),
    ("eval-missing-bundle", lambda t, p: ["eval", str(t / "none")], ("none",), ()),
    ("eval-z-wrong-size", lambda t, p: ["eval", str(p), "--z", "1,2"], ("z", "8", "2"), ()),
    ("eval-z-not-numbers", lambda t, p: ["eval", str(p), "--z", "a,b"], ("--z",), ()),
    ("eval-dynamics-malformed", lambda t, p: ["eval", str(p), "--dynamics",
                                              _write(t / "d.json", "{oops")], ("d.json",), ()),
    ("eval-dynamics-unknown-key", lambda t, p: ["eval", str(p), "--dynamics",
                                                _write(t / "d.json", '{"gravity": 3}')],
     ("d.json", "gravity"), ()),
    ("eval-unknown-backend", lambda t, p: ["eval", str(p), "--backend", "gazebo"],
     ("gazebo",), ()),
    ("eval-session-not-a-session", lambda t, p: ["eval", str(p), "--session", str(t)],
     ("rollouts.jsonl",), ()),
    ("export-missing-bundle", lambda t, p: ["export", str(t / "none"), "--out",
                                            str(t / "x")], ("none",), ("x",)),
    ("bundle-run-without-checkpoint", lambda t, p: ["bundle", str(t), "--out", str(t / "b")],
     ("LATEST",), ("b",)),
    ("deploy-unknown-backend", lambda t, p: ["deploy", str(p), "--backend", "gazebo"],
     ("gazebo",), ()),
    ("deploy-policy-for-another-robot", lambda t, p: ["deploy", str(p), "--backend",
                                                      "go2-dds"], ("a1", "go2"), ()),
    ("deploy-bad-robot-ip", lambda t, p: ["deploy", str(p), "--backend", "go1-udp", "--robot",
                                          "a1", "--robot-ip", "300.1.2.3"], ("300.1.2.3",), ()),
    ("deploy-unknown-interface", lambda t, p: ["deploy", str(p), "--backend", "go2-dds",
                                               "--robot", "a1", "--interface", "nope0"],
     ("nope0",), ()),
    ("deploy-no-robot-answering", lambda t, p: ["deploy", str(p), "--backend", "go1-udp",
                                                "--robot", "a1", "--port", _free_udp_port(t),
                                                "--local-port", _free_udp_port(t)],
     ("no LowState",), ()),
    ("deploy-dynamics-unknown-key", lambda t, p: ["deploy", str(p), "--dynamics",
                                                  _write(t / "d.json", '{"mass": 2}')],
     ("d.json", "mass"), ()),
    ("adapt-session-is-a-file", lambda t, p: ["adapt", str(p), "--session",
                                              _write(t / "s", "x")], ("s",), ()),
    ("emulate-unknown-protocol", lambda t, p: ["emulate", "--protocol", "can-bus"],
     ("can-bus",), ()),
    ("emulate-unknown-physics", lambda t, p: ["emulate", "--protocol", "go1-udp", "--physics",
                                              "bullet"], ("bullet",), ()),
    ("emulate-unknown-robot", lambda t, p: ["emulate", "--protocol", "go2-dds", "--robot",
                                            "spot"], ("spot",), ()),
    ("emulate-busy-port", lambda t, p: ["emulate", "--protocol", "go1-udp", "--port",
                                        _busy_udp_port(t), "--max-seconds", "5"],
     ("cannot bind", "in use"), ()),
    ("bench-transfer-bad-held-out", lambda t, p: ["bench", "transfer", "--json",
                                                  str(t / "o.json"), "--held-out",
                                                  _write(t / "h.json", '{"robots": 3}')],
     ("h.json",), ("o.json",)),
    ("bench-robustness-missing-policy", lambda t, p: ["bench", "robustness", "--json",
                                                      str(t / "o.json"), "--policy",
                                                      str(t / "nope")], ("nope",), ("o.json",)),
    ("bench-robustness-no-runs", lambda t, p: ["bench", "robustness", "--json",
                                               str(t / "o.json"), "--policy", str(p), "--runs",
                                               "0"], ("runs",), ("o.json",)),
]


def test_the_table_covers_every_subcommand(tmp_path):
    assert len(CASES) >= 25
    commands = {build(tmp_path, tmp_path)[0] for _, build, _, _ in CASES}
    assert {"retarget", "motion", "train", "eval", "export", "bundle", "deploy", "adapt",
            "emulate", "bench"} <= commands


@pytest.mark.parametrize(("name", "build", "words", "absent"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_exit_code_2(name, build, words, absent, tmp_path,
                                               tiny_policy):
    args = build(tmp_path, tiny_policy)
    proc = subprocess.run([sys.executable, "-m", "quadmimic", *args], capture_output=True,
                          text=True, timeout=300, cwd=REPO)
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, err[-2000:])
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [line for line in err.splitlines() if line.strip()
             and not line.startswith("pybullet build time")]
    assert lines, "no message"
    message = " ".join(lines)
    assert len(lines) <= 3, err  # one error line (typer's usage errors frame it in a box)
    for word in words:
        assert word in message, (word, message)
    for path in absent:
        assert not (tmp_path / path).exists(), path
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))
