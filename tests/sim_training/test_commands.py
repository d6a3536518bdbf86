"""Steerable imitation: the commanded reference, the command in the observation, warm starts."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch as th
from scipy.spatial.transform import Rotation

from motion_retarget.kinematics import robot_model
from motion_retarget.motion_file import load_motion
from quadmimic.core.errors import BundleError, ConfigError
from quadmimic.core.geometry import yaw_of
from sim_training.bundle import PolicyBundle
from sim_training.commands import (
    BUILTIN_SCRIPTS,
    CommandConfig,
    CommandedReference,
    clip_command,
    command_ranges,
    load_command_script,
)
from sim_training.config import TrainConfig, env_config_from, training_env
from sim_training.env import ImitationEnv
from sim_training.observations import COMMAND_SIZE, observation_layout
from sim_training.randomization import sample_command
from sim_training.reference import ReferenceMotion
from sim_training.train import Trainer, validate_config
from tests.conftest import REPO

TROT = REPO / "data" / "policies" / "go2_trot"
STEER = CommandConfig(enabled=True)
DT = 1.0 / 30.0


@pytest.fixture(scope="module")
def trot_ref() -> ReferenceMotion:
    return ReferenceMotion(load_motion(TROT / "motion.txt"), robot_model("go2"))


def _run(ref: CommandedReference, command, seconds: float) -> tuple[np.ndarray, float]:
    """Planar displacement (m) and heading change (rad) of the reference over ``seconds``."""
    ref.set_command(np.asarray(command, float))
    start, yaws = ref.now().root_pos.copy(), [float(yaw_of(ref.now().root_rot))]
    for _ in range(round(seconds / DT)):
        ref.advance()
        yaws.append(float(yaw_of(ref.now().root_rot)))
    turned = np.unwrap(yaws)
    return ref.now().root_pos[:2] - start[:2], float(turned[-1] - turned[0])


def test_the_reference_at_the_clips_own_command_is_the_clip(trot_ref):
    ref = CommandedReference(trot_ref, robot_model("go2"), STEER, DT)
    ref.reset(0.37)
    for k in range(200):  # past several loops (cycle offsets)
        want, got = trot_ref.state(0.37 + k * DT), ref.now()
        for name in ("root_pos", "root_rot", "joints", "joint_vel", "root_lin_vel",
                     "root_ang_vel", "feet_local"):
            np.testing.assert_allclose(getattr(got, name), getattr(want, name), atol=1e-9,
                                       err_msg=f"{name} at step {k}")
        ahead = ref.ahead((1, 30))
        np.testing.assert_allclose(ahead[1].root_pos, trot_ref.state(0.37 + (k + 30) * DT)
                                   .root_pos, atol=1e-9)
        ref.advance()


def test_speed_retimes_the_clip_and_yaw_rate_bends_its_path(trot_ref):
    ref = CommandedReference(trot_ref, robot_model("go2"), STEER, DT)
    clip = ref.clip
    assert clip[0] > 1.0 and abs(clip[2]) < 1e-9  # the Go2 trot: ~1.3 m/s straight on
    ref.reset(0.0)
    own, _ = _run(ref, clip, 3.0)
    ref.reset(0.0)
    fast, _ = _run(ref, 1.5 * clip, 3.0)
    assert np.linalg.norm(fast) == pytest.approx(1.5 * np.linalg.norm(own), rel=0.03)
    ref.reset(0.0)
    slow, _ = _run(ref, 0.2 * clip, 3.0)  # below the slowest playback: clipped to 0.5x
    assert np.linalg.norm(slow) == pytest.approx(0.5 * np.linalg.norm(own), rel=0.03)
    ref.reset(0.0)
    _, turned = _run(ref, [clip[0], clip[1], 0.8], 3.0)
    assert turned == pytest.approx(0.8 * 3.0, abs=0.05)
    ref.reset(0.0)
    _, turned = _run(ref, [clip[0], clip[1], -0.5], 3.0)
    assert turned == pytest.approx(-1.5, abs=0.05)


def _roll_pitch_in_heading(rot: np.ndarray) -> tuple[float, float]:
    """Roll and pitch (rad) of ``rot`` about the heading frame's axes."""
    local = Rotation.from_matrix(rot).as_euler("ZYX")
    return float(local[2]), float(local[1])


def test_a_leaning_reference_tilts_its_trunk_into_the_turn_and_nothing_else(trot_ref):
    """lean = 1: roll −atan(ω·v/g) into a turn (left turn → left side down), over a
    cycle of the clip on average; straight on, and in the joints, feet and velocities, the
    reference is the one without a lean."""
    kin = robot_model("go2")
    plain = CommandedReference(trot_ref, kin, STEER, DT)
    lean = CommandedReference(trot_ref, kin, dataclasses.replace(STEER, lean=1.0), DT)
    clip = plain.clip
    for omega in (0.0, 1.0, -0.7):
        command = np.array([clip[0], clip[1], omega])
        rolls = []
        for ref in (plain, lean):
            ref.reset(0.2, command)
            rolls.append([])
            for _ in range(round(trot_ref.duration / DT)):
                rolls[-1].append(_roll_pitch_in_heading(ref.now().root_rot)[0])
                ref.advance()
        for name in ("root_pos", "joints", "joint_vel", "root_lin_vel", "feet_local"):
            np.testing.assert_allclose(getattr(lean.now(), name), getattr(plain.now(), name),
                                       atol=1e-12, err_msg=name)
        v = np.hypot(clip[0], clip[1])  # the clip's mean speed
        extra = np.mean(np.subtract(rolls[1], rolls[0]))
        assert extra == pytest.approx(-np.arctan(omega * v / 9.81), abs=0.01), omega
    assert abs(np.arctan(1.0 * clip[0] / 9.81)) > 0.1  # the Go2 trot's lean: > 6°
    with pytest.raises(ValueError, match="lean"):
        CommandConfig(enabled=True, lean=1.5)


def test_a_zero_command_stands_and_the_gait_starts_again_from_phase_0(trot_ref):
    kin = robot_model("go2")
    ref = CommandedReference(trot_ref, kin, STEER, DT)
    ref.reset(0.41)
    moved, _ = _run(ref, np.zeros(3), 2.0)
    stand = ref.now()
    assert ref.gait_weight == 0.0 and ref.clip_time == 0.0
    np.testing.assert_allclose(stand.joints, kin.spec.default, atol=1e-12)
    assert not stand.joint_vel.any() and not stand.root_lin_vel.any()
    assert stand.root_pos[2] == pytest.approx(kin.standing_q()[2])
    assert np.linalg.norm(moved) < 0.5 * 0.5 * ref.clip[0] + 0.05  # stopped within the blend
    held, _ = _run(ref, np.zeros(3), 1.0)
    assert not held.any()
    ref.set_command(ref.clip)
    ref.advance()
    assert 0.0 < ref.gait_weight < 1.0 and ref.clip_time == pytest.approx(DT)
    _run(ref, ref.clip, 1.0)
    assert ref.gait_weight == 1.0


def test_commands_off_leave_the_observation_as_it_was(trot_ref):
    plain = training_env()
    assert not plain.commands.enabled  # the default: existing bundles evaluate as shipped
    layout = observation_layout(3, (1, 2, 10, 30), commands=True)
    assert [n for n, _, _ in layout[-3:]] == ["command.forward_speed", "command.lateral_speed",
                                              "command.yaw_rate"]
    assert sum(s for _, s, _ in layout) == 156 + COMMAND_SIZE


def test_the_steerable_env_at_the_clips_command_replays_the_plain_env():
    """PyBullet, the shipped trot acting: same observations (plus the command), rewards and
    terminations step for step, over a cycle sync."""
    bundle = PolicyBundle.load(TROT)
    cfg = bundle.config.env
    plain = ImitationEnv(bundle.motion_path, robot="go2", randomize=False, config=cfg)
    steer = ImitationEnv(bundle.motion_path, robot="go2", randomize=False,
                         config=dataclasses.replace(cfg, commands=STEER))
    try:
        a, _ = plain.reset(seed=3, options={"phase": 0.5})
        b, _ = steer.reset(seed=3, options={"phase": 0.5})
        np.testing.assert_allclose(b["obs"][-3:], steer.commanded.clip, atol=1e-6)
        for _ in range(45):
            assert np.array_equal(a["obs"], b["obs"][:-3])
            action = bundle.act(a["obs"], dynamics=a["dynamics"])
            a, ra, ta, _, _ = plain.step(action)
            b, rb, tb, _, info = steer.step(action)
            assert ra == rb and ta == tb and not ta
        assert info["command"] is not None
    finally:
        plain.close()
        steer.close()


def test_training_draws_commands_over_the_gaits_ranges(trot_ref):
    clip = clip_command(trot_ref)
    rng = np.random.default_rng(0)
    draws = np.array([sample_command(STEER, clip, rng) for _ in range(2000)])
    standing = (draws == 0).all(axis=1)
    assert 0.06 < standing.mean() < 0.14
    moving = draws[~standing]
    rates = moving[:, 0] / clip[0]
    assert rates.min() >= 0.5 and rates.max() <= 1.5
    np.testing.assert_allclose(moving[:, 1], rates * clip[1])
    assert moving[:, 2].min() >= -1.0 and moving[:, 2].max() <= 1.0
    ranges = command_ranges(STEER, clip)
    assert ranges["forward_speed"] == pytest.approx([0.5 * clip[0], 1.5 * clip[0]], abs=1e-4)
    assert ranges["yaw_rate"] == [-1.0, 1.0]


def test_a_randomised_steerable_env_changes_its_command(trot_ref):
    cfg = dataclasses.replace(training_env(), commands=dataclasses.replace(
        STEER, interval_s=(0.2, 0.3), stand_probability=0.0))
    env = ImitationEnv(TROT / "motion.txt", robot="go2", randomize=True, seed=1, config=cfg)
    try:
        env.reset(seed=1)
        seen = set()
        for _ in range(20):
            obs, *_ = env.step(np.zeros(12))
            seen.add(tuple(obs["obs"][-3:].round(5)))
        assert len(seen) >= 3
    finally:
        env.close()


def test_env_steer_json_is_env_real_with_commands():
    """The steerable runs' settings: env_real.json's, commands, and a root velocity term
    that weighs speed errors as legged_gym's velocity tracking does (exp(−|Δv|²/0.25))."""
    steer = env_config_from(REPO / "data" / "training" / "env_steer.json", training_env())
    real = env_config_from(REPO / "data" / "training" / "env_real.json", training_env())
    assert steer.commands.enabled and steer.commands.playback_range == (0.5, 1.5)
    assert steer.reward == dataclasses.replace(real.reward, root_velocity_weight=0.2,
                                               root_linear_velocity_scale=4.0)
    assert dataclasses.replace(steer, commands=CommandConfig(), reward=real.reward) == real


def test_env_commands_json_is_the_defaults_with_env_steers_commands_and_reward():
    steer = env_config_from(REPO / "data" / "training" / "env_steer.json", training_env())
    commands = env_config_from(REPO / "data" / "training" / "env_commands.json",
                               training_env())
    assert commands == dataclasses.replace(
        training_env(), commands=steer.commands,
        reward=dataclasses.replace(training_env().reward, root_velocity_weight=0.2,
                                   root_linear_velocity_scale=4.0))


def test_a_warm_started_steerable_policy_acts_as_its_source(tmp_path):
    """Zero weights for the command inputs: the same actions whatever the command."""
    cfg = TrainConfig(motion=str(TROT / "motion.txt"), robot="go2", num_envs=2,
                      num_workers=0, groups_per_worker=1, init_from=str(TROT), eval_episodes=0,
                      env=dataclasses.replace(training_env(), commands=STEER))
    validate_config(cfg)
    trainer = Trainer.create(cfg, tmp_path / "run")
    try:
        source = PolicyBundle.load(TROT)
        policy, rms = trainer.model.policy, trainer.norm.obs_rms["obs"]
        n = source.obs_mean.shape[0]
        np.testing.assert_array_equal(rms.mean[:n], source.obs_mean)
        assert rms.mean.shape == (n + COMMAND_SIZE,) and (rms.var[n:] > 0).all()
        rng = np.random.default_rng(0)
        for _ in range(10):
            obs = source.obs_mean + rng.normal(size=n) * np.sqrt(source.obs_var)
            z = rng.normal(size=source.z_dim).astype(np.float32)
            full = np.r_[obs, rng.normal(size=3) * 2.0]
            x = np.clip((full - rms.mean) / np.sqrt(rms.var + trainer.norm.epsilon), -10, 10)
            with th.no_grad():
                feats = th.cat([th.as_tensor(x, dtype=th.float32)[None],
                                th.as_tensor(z)[None]], dim=-1)
                action = policy.action_net(policy.mlp_extractor.forward_actor(feats))[0]
            np.testing.assert_allclose(np.clip(action.numpy(), -1, 1), source.act(obs, z=z),
                                       atol=1e-6)
    finally:
        trainer.close()


def test_another_layout_is_still_refused(tmp_path):
    cfg = TrainConfig(motion=str(TROT / "motion.txt"), robot="go2", init_from=str(TROT),
                      env=dataclasses.replace(training_env(), history=2, commands=STEER))
    with pytest.raises(BundleError, match="observation layout"):
        validate_config(cfg)


def test_command_scripts(tmp_path, trot_ref):
    clip = clip_command(trot_ref)
    for name in BUILTIN_SCRIPTS:
        script = load_command_script(name, clip)
        assert script.seconds >= 10.0
    eight = load_command_script("figure_eight", clip)
    np.testing.assert_allclose(eight.at(0.0), [clip[0], clip[1], 0.8])
    np.testing.assert_allclose(eight.at(eight.seconds - 0.1), [clip[0], clip[1], -0.8])
    stops = load_command_script("start_stop", clip)
    assert not stops.at(4.0).any()
    path = tmp_path / "drive.json"
    path.write_text(json.dumps({"segments": [{"seconds": 2, "forward_speed": 0.8,
                                              "yaw_rate": 0.3}, {"seconds": 1}]}))
    script = load_command_script(str(path), clip)
    np.testing.assert_allclose(script.at(1.0), [0.8, 0.0, 0.3])
    assert script.seconds == 3.0
    path.write_text(json.dumps({"segments": [{"seconds": 2, "speed": 1}]}))
    with pytest.raises(ConfigError, match="segment 1"):
        load_command_script(str(path), clip)
    with pytest.raises(ConfigError, match="not a built-in"):
        load_command_script("figure_nine", clip)


def test_the_random_script_draws_training_commands_per_episode(trot_ref):
    """``random``: commands over the gait's ranges, each held 2–4 s, 20 s in all; the same
    seed draws the same script, another seed another one."""
    clip = clip_command(trot_ref)
    with pytest.raises(ConfigError, match="command settings"):
        load_command_script("random", clip)
    script = load_command_script("random", clip, STEER)
    assert script.seconds == pytest.approx(20.0)
    holds = [seconds for seconds, _ in script.segments]
    assert all(2.0 <= h <= 4.0 for h in holds[:-1]) and 0.0 < holds[-1] <= 4.0
    assert script.for_episode(0) == script and script.for_episode(1) != script
    drawn = np.array([c for k in range(40) for _, c in script.for_episode(k).segments])
    moving = drawn[np.abs(drawn[:, 0]) > 0.0]
    rates = moving[:, 0] / clip[0]
    assert rates.min() >= 0.5 - 1e-9 and rates.max() <= 1.5 + 1e-9
    np.testing.assert_allclose(moving[:, 1] / clip[1], rates)  # the clip's own direction
    assert np.all(np.abs(moving[:, 2] - clip[2]) <= 1.0 + 1e-9)
    stands = len(drawn) - len(moving)
    assert 0 < stands < 0.3 * len(drawn)  # stand probability 0.1
    fixed = load_command_script("figure_eight", clip)
    assert fixed.for_episode(5) is fixed
