"""Every bad input: one line naming what and where, exit code 2, no traceback, nothing
half-written. Table-driven: each case is a real ``quadmimic`` process, as a user runs it."""

from __future__ import annotations

import json
import shutil
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


def _bundle(tmp: Path, **files: bytes) -> str:
    """A copy of the shipped A1 trot bundle with some of its files replaced by ``files``
    (``policy_pt=b"..."`` replaces ``policy.pt``)."""
    out = tmp / "bundle"
    shutil.copytree(REPO / "data" / "policies" / "a1_trot", out,
                    ignore=shutil.ignore_patterns("*.gif", "*.png"), dirs_exist_ok=True)
    for name, content in files.items():
        (out / name.replace("_", ".", 1)).write_bytes(content)
    return str(out)


def _truncated(name: str, size: int = 600) -> bytes:
    return (REPO / "data" / "policies" / "a1_trot" / name).read_bytes()[:size]


def _run_dir(tmp: Path, config: str) -> str:
    run = tmp / "oldrun"
    run.mkdir(exist_ok=True)
    (run / "config.json").write_text(config)
    return str(run)


def _session(tmp: Path, name: str, text: str) -> str:
    session = tmp / "s"
    session.mkdir(exist_ok=True)
    (session / name).write_text(text)
    return str(session)


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
                                                         "1.5"], ("--standing-starts", "1.5"),
     ("run",)),
    ("train-curriculum-start-out-of-range", lambda t, p: ["train", MOTION, "--out",
                                                          str(t / "run"), "--curriculum-start",
                                                          "-0.1"], ("--curriculum-start",),
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
                                              _write(t / "s", "x")],
     ("--session", "is a file"), ()),
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
    # Numbers out of range: counts >= 1 where zero is nothing to do, durations > 0, ports
    # 1-65535, fractions in [0, 1]; refused before anything is read or written.
    ("train-negative-timesteps", lambda t, p: ["train", MOTION, "--out", str(t / "run"),
                                               "--timesteps", "-5"], ("--timesteps", "-5"),
     ("run",)),
    ("train-zero-envs", lambda t, p: ["train", MOTION, "--out", str(t / "run"), "--num-envs",
                                      "0"], ("--num-envs", "0"), ("run",)),
    ("train-zero-checkpoint-minutes", lambda t, p: ["train", MOTION, "--out", str(t / "run"),
                                                    "--checkpoint-minutes", "0"],
     ("--checkpoint-minutes",), ("run",)),
    ("train-negative-seed", lambda t, p: ["train", MOTION, "--out", str(t / "run"), "--seed",
                                          "-1"], ("--seed", "-1"), ("run",)),
    ("train-ray-seeds-not-integers", lambda t, p: ["train", MOTION, "--out", str(t / "run"),
                                                   "--ray", "--seeds", "0,x"],
     ("--seeds", "0,x"), ("run",)),
    ("train-ray-negative-learning-rate", lambda t, p: ["train", MOTION, "--out",
                                                       str(t / "run"), "--ray", "--lrs",
                                                       "-3e-4"], ("--lrs", "-0.0003"),
     ("run",)),
    ("eval-zero-episodes", lambda t, p: ["eval", str(p), "--episodes", "0"],
     ("--episodes", "0"), ()),
    ("eval-nan-physics-rate", lambda t, p: ["eval", str(p), "--physics-hz", "nan"],
     ("--physics-hz", "nan"), ()),
    ("bundle-zero-episodes", lambda t, p: ["bundle", str(p), "--out", str(t / "b"),
                                           "--episodes", "0"], ("--episodes",), ("b",)),
    ("retarget-negative-fps", lambda t, p: ["retarget", CLIP, "--fps", "-30", "--out",
                                            str(t / "m.txt")], ("--fps", "-30"), ("m.txt",)),
    ("retarget-negative-start", lambda t, p: ["retarget", CLIP, "--start", "-1", "--out",
                                              str(t / "m.txt")], ("--start",), ("m.txt",)),
    ("motion-preview-zero-frames", lambda t, p: ["motion", "preview", MOTION, "--max-frames",
                                                 "0", "--out", str(t / "p.gif")],
     ("--max-frames", "0"), ("p.gif",)),
    ("deploy-port-out-of-range", lambda t, p: ["deploy", str(p), "--backend", "go1-udp",
                                               "--robot", "a1", "--port", "70000"],
     ("--port", "70000"), ()),
    ("deploy-local-port-zero", lambda t, p: ["deploy", str(p), "--backend", "go1-udp",
                                             "--robot", "a1", "--local-port", "0"],
     ("--local-port", "0"), ()),
    ("deploy-zero-seconds", lambda t, p: ["deploy", str(p), "--max-seconds", "0"],
     ("--max-seconds", "0"), ()),
    ("deploy-rt-priority-out-of-range", lambda t, p: ["deploy", str(p), "--rt-priority",
                                                      "100"], ("--rt-priority", "100"), ()),
    ("deploy-domain-out-of-range", lambda t, p: ["deploy", str(p), "--backend", "go2-dds",
                                                 "--robot", "a1", "--domain", "300"],
     ("--domain", "300"), ()),
    ("emulate-port-zero", lambda t, p: ["emulate", "--protocol", "go1-udp", "--port", "0"],
     ("--port", "0"), ()),
    ("emulate-control-port-out-of-range", lambda t, p: ["emulate", "--protocol", "go1-udp",
                                                        "--control-port", "65536"],
     ("--control-port", "65536"), ()),
    ("emulate-negative-seconds", lambda t, p: ["emulate", "--protocol", "go1-udp",
                                               "--max-seconds", "-2"], ("--max-seconds",), ()),
    ("adapt-zero-rollouts", lambda t, p: ["adapt", str(p), "--session", str(t / "s"),
                                          "--rollouts", "0"], ("--rollouts", "0"), ("s",)),
    ("adapt-zero-rollout-seconds", lambda t, p: ["adapt", str(p), "--session", str(t / "s"),
                                                 "--rollout-seconds", "0"],
     ("--rollout-seconds",), ("s",)),
    ("adapt-one-pair", lambda t, p: ["adapt", str(p), "--session", str(t / "s"),
                                     "--pairs", "1"], ("--pairs",), ("s",)),
    ("adapt-z-estimate-without-estimator", lambda t, p: ["adapt", str(p), "--session",
                                                         str(t / "s"), "--z", "estimate"],
     ("--z estimate", "no estimator"), ("s",)),
    ("eval-z-estimate-without-estimator", lambda t, p: ["eval", str(p), "--z", "estimate"],
     ("--z estimate", "no estimator"), ()),
    ("deploy-z-estimate-without-estimator", lambda t, p: ["deploy", str(p), "--z",
                                                          "estimate"],
     ("--z estimate", "no estimator"), ()),
    ("estimator-not-a-bundle", lambda t, p: ["estimator", str(p)], ("manifest.json",), ()),
    ("estimator-zero-iterations", lambda t, p: ["estimator", str(p), "--iterations", "0"],
     ("--iterations", "0"), ()),
    ("demo-zero-rollouts", lambda t, p: ["demo", "--out", str(t / "d"), "--rollouts", "0"],
     ("--rollouts", "0"), ("d",)),
    ("bench-env-zero-rounds", lambda t, p: ["bench", "env", "--json", str(t / "o.json"),
                                            "--rounds", "0"], ("--rounds", "0"), ("o.json",)),
    ("bench-robustness-negative-seconds", lambda t, p: ["bench", "robustness", "--json",
                                                        str(t / "o.json"), "--policy", str(p),
                                                        "--seconds", "-1"], ("--seconds",),
     ("o.json",)),
    ("bench-transfer-negative-seed", lambda t, p: ["bench", "transfer", "--json",
                                                   str(t / "o.json"), "--seeds", "0,-1"],
     ("--seeds", "-1"), ("o.json",)),
    ("bench-transfer-zero-adapt-rollouts", lambda t, p: ["bench", "transfer", "--json",
                                                         str(t / "o.json"), "--adapt-rollouts",
                                                         "0,5"], ("--adapt-rollouts",),
     ("o.json",)),
    ("bench-deploy-priority-out-of-range", lambda t, p: ["bench", "deploy", "--json",
                                                         str(t / "o.json"), "--rt-priorities",
                                                         "0,120"], ("--rt-priorities", "120"),
     ("o.json",)),
    # Corrupt files: one line naming the file.
    ("eval-truncated-weights", lambda t, p: ["eval", _bundle(t, policy_pt=_truncated(
        "policy.pt"))], ("policy.pt",), ()),
    ("eval-weights-not-torch", lambda t, p: ["eval", _bundle(t, policy_pt=b"not torch")],
     ("policy.pt",), ()),
    ("eval-bad-normalization", lambda t, p: ["eval", _bundle(
        t, normalization_npz=_truncated("normalization.npz", 100))],
     ("normalization.npz",), ()),
    ("eval-corrupt-bundle-config", lambda t, p: ["eval", _bundle(t, config_json=b"{")],
     ("config.json", "JSON"), ()),
    ("deploy-corrupt-manifest", lambda t, p: ["deploy", _bundle(t, manifest_json=b"[1,")],
     ("manifest.json", "JSON"), ()),
    ("eval-bundle-z-not-numbers", lambda t, p: ["eval", _bundle(t, z_json=b'{"z": "x"}')],
     ("z.json",), ()),
    ("train-init-from-truncated-weights", lambda t, p: [
        "train", MOTION, "--out", str(t / "run"), "--init-from",
        _bundle(t, policy_pt=_truncated("policy.pt"))], ("policy.pt",), ("run",)),
    ("train-resume-corrupt-config", lambda t, p: ["train", "--resume",
                                                  _run_dir(t, '{"robot": ')],
     ("config.json", "JSON"), ()),
    ("adapt-corrupt-session-file", lambda t, p: ["adapt", str(p), "--session",
                                                 _session(t, "session.json", "{oops")],
     ("session.json", "JSON"), ("s/rollouts", "s/returns.png", "s/summary.json")),
    ("eval-session-corrupt-rollouts", lambda t, p: [
        "eval", str(p), "--session", _session(t, "rollouts.jsonl", '{"z": [\n{"z": [0]}\n')],
     ("rollouts.jsonl", "line 1"), ()),
    # Output paths that exist as the wrong kind: refused before anything is written.
    ("train-out-is-a-file", lambda t, p: ["train", MOTION, "--out", _write(t / "run", "x")],
     ("--out", "is a file"), ()),
    ("export-out-is-a-file", lambda t, p: ["export", str(p), "--out", _write(t / "x", "x")],
     ("--out", "is a file"), ()),
    ("retarget-out-is-a-directory", lambda t, p: ["retarget", CLIP, "--out", str(t)],
     ("--out", "is a directory"), ()),
    ("retarget-report-below-a-file", lambda t, p: ["retarget", CLIP, "--out", str(t / "m.txt"),
                                                   "--report",
                                                   str(Path(_write(t / "f", "x")) / "r.json")],
     ("--report", "is a file"), ("m.txt",)),
    ("eval-json-is-a-directory", lambda t, p: ["eval", str(p), "--json", str(t)],
     ("--json", "is a directory"), ()),
    ("deploy-log-is-a-directory", lambda t, p: ["deploy", str(p), "--log", str(t)],
     ("--log", "is a directory"), ()),
    ("adapt-out-is-a-file", lambda t, p: ["adapt", str(p), "--session", str(t / "s"), "--out",
                                          _write(t / "b", "x")], ("--out", "is a file"),
     ("s",)),
    ("bench-json-is-a-directory", lambda t, p: ["bench", "robustness", "--json", str(t),
                                                "--policy", str(p)], ("--json",), ()),
    ("demo-out-is-a-file", lambda t, p: ["demo", "--out", _write(t / "d", "x")],
     ("--out", "is a file"), ()),
]


def test_the_table_covers_every_subcommand(tmp_path):
    assert len(CASES) >= 90
    commands = set()
    for k, (_, build, _, _) in enumerate(CASES):
        case = tmp_path / f"case{k}"
        case.mkdir()
        commands.add(build(case, tmp_path)[0])
    assert {"retarget", "motion", "train", "eval", "export", "bundle", "deploy", "adapt",
            "emulate", "bench", "demo", "estimator"} <= commands


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
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and len(lines) <= 2, err  # one error line (and a progress bar's)
    for word in words:
        assert word in message, (word, message)
    for path in absent:
        assert not (tmp_path / path).exists(), path
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))
