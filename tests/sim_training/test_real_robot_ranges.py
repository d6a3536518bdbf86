"""The randomisation of real robots' differences: later dynamics keys, in PyBullet."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
import torch as th

from quadmimic.core.robots import get_robot
from quadmimic.core.robots.actuator import actuator_config
from sim_training.config import TrainConfig, env_config_from, training_env
from sim_training.dynamics import DYNAMICS_KEYS, FIRST_KEYS, NOMINAL, dynamics_vector
from sim_training.env import EnvConfig, ImitationEnv
from sim_training.noise import SensorNoise
from sim_training.policy import DynamicsEncoder, dynamics_normaliser
from sim_training.randomization import (
    LATER_KEYS,
    RandomizationRanges,
    encoder_keys,
    sample_dynamics,
    varies_later_keys,
)
from sim_training.robot_sim import SimRobot
from sim_training.train import widen_encoder_inputs
from tests.conftest import REPO

REAL = REPO / "data" / "training" / "env_real.json"
MOTION = REPO / "data" / "motions" / "go2_trot.txt"


def _real_config() -> EnvConfig:
    return env_config_from(REAL, EnvConfig(physics_hz=500.0, heading_feedback=True))


def test_default_ranges_keep_the_paper_keys_and_their_random_stream():
    ranges = RandomizationRanges()
    assert not varies_later_keys(ranges)
    assert encoder_keys(ranges) == FIRST_KEYS
    a = sample_dynamics(ranges, np.random.default_rng(3))
    rng = np.random.default_rng(3)
    lows = [getattr(ranges, k)[0] for k in FIRST_KEYS]
    highs = [getattr(ranges, k)[1] for k in FIRST_KEYS]
    expected = rng.uniform(lows, highs)
    assert [a[k] for k in FIRST_KEYS] == pytest.approx(expected.tolist())
    assert all(a[k] == NOMINAL[k] for k in LATER_KEYS)


def test_real_ranges_vary_every_later_key_and_the_encoder_reads_them():
    cfg = _real_config()
    assert encoder_keys(cfg.ranges) == DYNAMICS_KEYS
    draws = [sample_dynamics(cfg.ranges, np.random.default_rng(s)) for s in range(20)]
    for key in LATER_KEYS:
        lo, hi = getattr(cfg.ranges, key)
        values = [d[key] for d in draws]
        assert lo <= min(values) and max(values) <= hi and np.ptp(values) > 0
    offset, scale = dynamics_normaliser(cfg.ranges)
    assert offset.shape == scale.shape == (len(DYNAMICS_KEYS),)


def test_widened_encoder_is_exactly_the_source_on_the_keys_it_knew():
    old_ranges = RandomizationRanges()
    new_ranges = _real_config().ranges
    th.manual_seed(0)
    old = DynamicsEncoder(8, (16,), *dynamics_normaliser(old_ranges), keys=FIRST_KEYS)
    new = DynamicsEncoder(8, (16,), *dynamics_normaliser(new_ranges),
                          keys=encoder_keys(new_ranges))
    state = widen_encoder_inputs({f"encoder.{k}": v for k, v in old.state_dict().items()},
                                 {f"encoder.{k}": v for k, v in new.state_dict().items()},
                                 FIRST_KEYS, encoder_keys(new_ranges))
    new.load_state_dict({k.removeprefix("encoder."): v for k, v in state.items()})
    rng = np.random.default_rng(1)
    for _ in range(5):
        params = sample_dynamics(old_ranges, rng)
        x = th.as_tensor(dynamics_vector(params))[None]
        with th.no_grad():
            assert th.allclose(old(x)[0], new(x)[0], atol=1e-5)
    # A later key moves z only once training has moved its weights off zero.
    moved = dict(params, com_offset_x=0.05, contact_compliance=80.0)
    with th.no_grad():
        assert th.allclose(new(th.as_tensor(dynamics_vector(moved))[None])[0],
                           new(x)[0], atol=1e-5)


def _stand(robot: SimRobot, seconds: float) -> None:
    spec = robot.spec
    from motion_retarget.kinematics import robot_model

    q = robot_model(spec.name).standing_q()
    robot.reset(q[:3], q[3:7], spec.default)
    robot.command(spec.default)
    robot.step(int(seconds / robot.time_step))


def test_a_centre_of_mass_offset_tips_the_standing_robot_toward_it():
    from quadmimic.core.geometry import quat_to_matrix, roll_pitch

    pitches = {}
    for dx in (-0.06, 0.0, 0.06):
        robot = SimRobot(get_robot("go2"), time_step=0.002)
        robot.apply_dynamics({"com_offset_x": dx})
        _stand(robot, 1.0)
        pitches[dx] = roll_pitch(quat_to_matrix(robot.base_pose()[1]))[1]
        robot.close()
    # Weight ahead of the base centre pitches the nose down (positive pitch about y).
    assert pitches[0.06] > pitches[0.0] + 1e-3 > pitches[-0.06] + 2e-3


def test_a_compliant_contact_lets_the_robot_sink():
    heights = {}
    for c in (0.0, 100.0):
        robot = SimRobot(get_robot("go2"), time_step=0.002)
        robot.apply_dynamics({"contact_compliance": c})
        _stand(robot, 1.0)
        heights[c] = robot.base_pose()[0][2]
        robot.close()
    assert heights[100.0] < heights[0.0] - 2e-3


def test_the_torque_speed_curve_derates_a_driving_motor():
    spec = get_robot("go2")
    robot = SimRobot(spec, time_step=0.002)
    robot.set_torque_speed(actuator_config(spec))
    robot.apply_dynamics({"motor_speed_scale": 0.5})
    knee, top = robot._speeds
    assert np.allclose(top, actuator_config(spec).max_speed_array(spec) * 0.5)
    assert np.allclose(knee, actuator_config(spec).knee_speed_array(spec) * 0.5)
    robot.close()


def test_jitter_never_lets_a_command_overtake_an_earlier_one():
    robot = SimRobot(get_robot("go2"), time_step=0.002)
    robot.apply_dynamics({"latency_s": 0.02})
    first, second = np.full(12, 0.1), np.full(12, 0.2)
    robot.command(first, delay_steps=10)
    robot.command(second, delay_steps=0)
    dues = [due for due, _ in robot._queue]
    assert dues == sorted(dues) and dues[0] == 10 + 10
    robot.close()


def test_dynamics_are_redrawn_within_an_episode_and_the_slope_stays():
    cfg = dataclasses.replace(_real_config(), dynamics_resample_probability=1.0,
                              push_interval_s=0.0, standing_start_fraction=0.0)
    env = ImitationEnv(MOTION, robot="go2", randomize=True, seed=0, config=cfg)
    obs, info = env.reset()
    slope = info["dynamics"]["ground_slope_rad"]
    seen = [obs["dynamics"].copy()]
    for _ in range(3):
        obs, *_, info = env.step(np.zeros(12))
        seen.append(obs["dynamics"].copy())
        assert info["dynamics"]["ground_slope_rad"] == slope
    assert all(not np.allclose(a, b) for a, b in itertools.pairwise(seen))
    env.close()


def test_the_imu_bias_is_constant_within_an_episode():
    noise = SensorNoise(roll_pitch_bias=0.05)
    cfg = dataclasses.replace(EnvConfig(physics_hz=500.0), sensor_noise=noise)
    env = ImitationEnv(MOTION, robot="go2", randomize=True, seed=4, config=cfg)
    env.reset()
    bias = env._imu_bias.copy()
    assert np.all(np.abs(bias) > 0)
    env.step(np.zeros(12))
    assert np.array_equal(env._imu_bias, bias)
    env.reset()
    assert not np.array_equal(env._imu_bias, bias)
    env.close()


def test_env_real_trains_a_latent_over_every_key():
    config = TrainConfig(motion=str(MOTION), robot="go2", env=_real_config())
    assert config.env.torque_speed_curve and config.env.latency_jitter_s > 0
    assert config.env.ranges.latency_s[1] >= 0.06
    with pytest.raises(ValueError, match="latency_jitter_s"):
        dataclasses.replace(config.env, latency_jitter_s=-0.01)


@pytest.mark.parametrize("path", sorted((REPO / "data" / "training").glob("env_*.json")),
                         ids=lambda p: p.name)
def test_every_env_settings_file_of_the_runs_is_a_valid_env_config(path):
    """`quadmimic train --env-config` takes each settings file the documented runs used."""
    config = env_config_from(path, training_env())
    assert isinstance(config, EnvConfig)


@pytest.mark.parametrize(("new_file", "base_file", "weight"), [
    ("env_real_pose.json", "env_real.json", "pose_weight"),
    ("env_real_pose2.json", "env_real_pose.json", "pose_weight"),
    ("env_commands_push_pose.json", "env_commands_push.json", "pose_weight"),
    ("env_commands_push_track.json", "env_commands_push_pose.json", "root_velocity_weight"),
    ("env_commands_push_yaw.json", "env_commands_push_track.json", "yaw_rate_weight"),
    ("env_commands_push_speed.json", "env_commands_push_yaw.json", "mean_velocity_weight")])
def test_a_continued_run_s_settings_raise_one_reward_weight_and_nothing_else(
        new_file, base_file, weight):
    """A run continued "with the pose term weighed more" (or a term added) changed nothing
    else."""
    folder = REPO / "data" / "training"
    new = env_config_from(folder / new_file, training_env())
    base = env_config_from(folder / base_file, training_env())
    assert getattr(new.reward, weight) > getattr(base.reward, weight)
    assert dataclasses.replace(new, reward=dataclasses.replace(
        new.reward, **{weight: getattr(base.reward, weight)})) == base


def test_the_contact_settings_add_env_real_s_contact_ranges_and_nothing_else():
    """The steerable trot continued "on env_real.json's contact models" changed nothing else:
    restitution, contact stiffness and damping, rolling and spinning friction as the real-robot
    runs draw them."""
    folder = REPO / "data" / "training"
    contact = env_config_from(folder / "env_commands_push_contact.json", training_env())
    base = env_config_from(folder / "env_commands_push_speed.json", training_env())
    real = env_config_from(folder / "env_real.json", training_env())
    keys = ("restitution", "contact_compliance", "contact_damping_ratio", "rolling_friction",
            "spinning_friction")
    assert all(getattr(contact.ranges, k) == getattr(real.ranges, k) for k in keys)
    assert any(getattr(base.ranges, k) != getattr(real.ranges, k) for k in keys)
    assert dataclasses.replace(contact, ranges=dataclasses.replace(
        contact.ranges, **{k: getattr(base.ranges, k) for k in keys})) == base
