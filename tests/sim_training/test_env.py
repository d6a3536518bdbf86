"""The imitation env: contract per robot, determinism, termination, dynamics, reward."""

from __future__ import annotations

import dataclasses

import gymnasium
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import quadmimic.core.geometry
import sim_training
from motion_retarget.job import retarget_file
from sim_training.dynamics import DYNAMICS_KEYS
from sim_training.env import EnvConfig, ImitationEnv, _ref_quantities
from sim_training.observations import FUTURE_SIZE, PROPRIO_SIZE
from sim_training.rewards import imitation_reward
from tests.conftest import DEFAULT_CLIPS, REFERENCE_MOTIONS

ROBOTS = ["a1", "laikago", "go1", "go2"]
SHARED_MOTIONS = sorted(REFERENCE_MOTIONS.glob("*.txt"))


@pytest.fixture(scope="module")
def trot_motions(tmp_path_factory) -> dict[str, str]:
    """The default trot clip retargeted onto every robot (what `quadmimic retarget` writes)."""
    out = tmp_path_factory.mktemp("motions")
    paths = {}
    for robot in ROBOTS:
        path = out / f"{robot}_trot.txt"
        retarget_file(DEFAULT_CLIPS / "dog_trot_joint_pos.txt", robot, path)
        paths[robot] = str(path)
    return paths


def _check_obs(env, obs):
    assert set(obs) == {"obs", "dynamics"}
    assert obs["obs"].dtype == np.float32 and obs["dynamics"].dtype == np.float32
    assert obs["obs"].shape == env.observation_space["obs"].shape == (156,)
    assert obs["dynamics"].shape == (len(DYNAMICS_KEYS),)
    assert np.all(np.isfinite(obs["obs"])) and np.all(np.isfinite(obs["dynamics"]))
    assert env.observation_space.contains(obs)


@pytest.mark.parametrize("robot", ROBOTS)
def test_contract_on_retargeted_motion(robot, trot_motions):
    env = gymnasium.make(sim_training.ENV_ID, motion=trot_motions[robot], robot=robot,
                         randomize=True, seed=1)
    obs, info = env.reset(seed=1)
    _check_obs(env, obs)
    assert set(info["dynamics"]) == set(sim_training.dynamics.DYNAMICS_KEYS)
    rng = np.random.default_rng(0)
    for _ in range(20):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample() * 0.2)
        _check_obs(env, obs)
        assert isinstance(reward, float) and np.isfinite(reward) and 0.0 <= reward <= 1.0
        assert isinstance(terminated, bool) and isinstance(truncated, bool)
        assert set(info["reward_terms"]) == {"pose", "velocity", "end_effector", "root_pose",
                                             "root_velocity", "yaw_rate", "mean_velocity",
                                             "action_rate"}
        if terminated or truncated:
            obs, _ = env.reset()
    with pytest.raises(ValueError, match="12 finite"):
        env.step(np.full(12, np.nan))
    with pytest.raises(ValueError, match="12 finite"):
        env.step(np.zeros(5))
    del rng
    env.close()


@pytest.mark.parametrize("robot", ROBOTS)
def test_every_paper_reference_motion_runs(robot):
    for path in SHARED_MOTIONS:
        env = ImitationEnv(path, robot=robot, randomize=True, seed=0)
        obs, _ = env.reset()
        _check_obs(env, obs)
        for _ in range(3):
            obs, reward, terminated, truncated, _ = env.step(np.zeros(12, np.float32))
            _check_obs(env, obs)
            assert np.isfinite(reward)
            if terminated or truncated:
                break
        env.close()


def test_same_seed_same_episode(trot_motions):
    def rollout():
        env = ImitationEnv(trot_motions["a1"], robot="a1", randomize=True, seed=5)
        obs, info = env.reset(seed=5)
        rng = np.random.default_rng(3)
        out = [obs["obs"]]
        for _ in range(15):
            obs, r, term, trunc, _ = env.step(rng.uniform(-0.5, 0.5, 12))
            out.append(np.r_[obs["obs"], r])
            if term or trunc:
                break
        env.close()
        return info["dynamics"], np.concatenate(out)

    d1, a = rollout()
    d2, b = rollout()
    assert d1 == d2
    np.testing.assert_array_equal(a, b)
    env = ImitationEnv(trot_motions["a1"], robot="a1", randomize=True, seed=6)
    assert env.reset(seed=6)[1]["dynamics"] != d1
    env.close()


def test_termination_fires_when_the_robot_falls(trot_motions):
    cfg = EnvConfig(max_root_position_error=10.0, max_root_rotation_error=10.0)
    env = ImitationEnv(trot_motions["a1"], robot="a1", randomize=False, seed=0, config=cfg)
    env.reset(seed=0)
    # Put it on its back: the base touches the ground at once.
    pos, _ = env.robot.base_pose()
    env.robot.reset(np.r_[pos[:2], 0.1], np.array([1.0, 0.0, 0.0, 0.0]), env.spec_robot.default)
    for _ in range(10):
        _, _, terminated, truncated, info = env.step(np.zeros(12))
        if terminated:
            break
    assert terminated and not truncated and info["fell"]
    env.close()


def test_truncation_at_episode_end(trot_motions):
    cfg = EnvConfig(episode_seconds=0.2, terminate_on_body_contact=False,
                    max_root_position_error=10.0, max_root_rotation_error=10.0)
    env = ImitationEnv(trot_motions["a1"], robot="a1", randomize=False, config=cfg)
    env.reset(seed=0)
    steps = int(np.ceil(0.2 / cfg.policy_dt - 1e-9))  # 33 ms steps: 7 of them reach 0.2 s
    flags = [env.step(np.zeros(12))[3] for _ in range(steps)]
    assert flags == [False] * (steps - 1) + [True]
    env.close()


def test_fixed_dynamics_change_the_simulation(trot_motions):
    """A heavier base stands lower under the same PD gains; dynamics are what was asked."""
    heights = {}
    for scale in (1.0, 2.5):
        env = ImitationEnv(trot_motions["a1"], robot="a1", dynamics={"base_mass_scale": scale})
        _, info = env.reset(seed=0)
        assert info["dynamics"]["base_mass_scale"] == scale
        assert env.robot.base_mass == pytest.approx(scale * env.robot.nominal_base_mass)
        robot = env.robot
        q = robot.spec.default
        robot.reset(np.array([0.0, 0.0, 0.30]), np.array([0.0, 0.0, 0.0, 1.0]), q)
        robot.command(q)
        robot.step(1500)  # 1.5 s standing on the PD
        heights[scale] = robot.base_pose()[0][2]
        env.close()
    assert heights[2.5] < heights[1.0] - 0.005


def test_unknown_or_impossible_dynamics_are_errors(trot_motions):
    from quadmimic.core.errors import DynamicsError

    with pytest.raises(DynamicsError, match="unknown dynamics key 'gravity'"):
        ImitationEnv(trot_motions["a1"], dynamics={"gravity": 3.0})
    with pytest.raises(DynamicsError, match="foot_friction"):
        ImitationEnv(trot_motions["a1"], dynamics={"foot_friction": -1.0})


def test_kinematic_playback_earns_near_maximal_reward(trot_motions):
    """Teleport the robot onto the reference at every step: every term is about 1."""
    cfg = EnvConfig(terminate_on_body_contact=False)
    env = ImitationEnv(trot_motions["a1"], robot="a1", randomize=False, config=cfg)
    env.reset(seed=0, options={"phase": 0.0})
    totals, terms_seen = [], []
    for _ in range(40):
        env.step(np.zeros(12))
        ref = env.ref.state(env.t)
        env.robot.reset(ref.root_pos, env._base_quat(ref.root_rot), ref.joints, ref.joint_vel,
                        ref.root_lin_vel, ref.root_ang_vel)
        total, terms = imitation_reward(env.config.reward, env._robot_quantities(),
                                        _ref_quantities(ref))
        totals.append(total)
        terms_seen.append(terms)
    assert min(totals) > 0.98
    assert min(t["end_effector"] for t in terms_seen) > 0.99  # pybullet FK = pinocchio FK
    env.close()


def test_curriculum_widens_the_ranges(trot_motions):
    env = ImitationEnv(trot_motions["a1"], robot="a1", randomize=True, seed=0,
                       config=EnvConfig(randomization_fraction=0.0))
    _, info = env.reset(seed=0)
    assert info["dynamics"] == sim_training.dynamics.dynamics_from(None)
    env.set_randomization_fraction(1.0)
    _, info = env.reset()
    assert info["dynamics"] != sim_training.dynamics.dynamics_from(None)
    assert env.config.randomization_fraction == 1.0
    assert dataclasses.is_dataclass(env.config)
    env.close()


def test_reference_origin_moves_onto_the_robot_at_each_new_cycle(trot_motions):
    """Cycle sync: drift the policy cannot see never accumulates into a termination."""
    env = ImitationEnv(trot_motions["a1"], robot="a1", randomize=False,
                       config=EnvConfig(terminate_on_body_contact=False,
                                        max_root_position_error=10.0,
                                        max_root_rotation_error=10.0))
    env.reset(seed=0, options={"phase": env.ref.duration - 0.05})
    assert env._origin is None
    raw_obs = None
    for _ in range(10):
        before = env._cycle
        obs, *_ = env.step(np.zeros(12))
        if env._cycle != before:
            raw_ref = env.ref.state(env.t)
            raw_future = [env.ref.state(env.t + k * env.config.policy_dt)
                          for k in env.config.future_steps]
            raw_obs = env.builder.build(raw_ref, raw_future)
            break
    assert raw_obs is not None, "no cycle boundary crossed"
    state = env._robot_quantities()
    synced = env.ref_at(env.t)
    np.testing.assert_allclose(synced.root_pos[:2], state["root_pos"][:2], atol=1e-9)
    assert abs(quadmimic.core.geometry.yaw_of(synced.root_rot)
               - quadmimic.core.geometry.yaw_of(state["root_rot"])) < 1e-9
    # The observation only sees the reference relative to its own root: sync leaves it as is.
    np.testing.assert_allclose(obs["obs"], raw_obs, atol=1e-5)
    # Later frames keep the same rigid offset: the synced reference still moves as the clip.
    later, raw_later = env.ref_at(env.t + 0.2), env.ref.state(env.t + 0.2)
    np.testing.assert_allclose(np.linalg.norm(later.root_lin_vel),
                               np.linalg.norm(raw_later.root_lin_vel), atol=1e-9)
    env.close()


def test_heading_feedback_shows_the_robot_its_turn_and_keeps_it_across_cycles(trot_motions):
    """With heading feedback a robot turned away from the reference sees the turn in its
    observation, and the cycle sync moves only the reference's position."""
    cfg = EnvConfig(heading_feedback=True, terminate_on_body_contact=False,
                    max_root_position_error=10.0, max_root_rotation_error=10.0)
    env = ImitationEnv(trot_motions["a1"], robot="a1", randomize=False, config=cfg)
    obs0, _ = env.reset(seed=0, options={"phase": 0.0})
    assert abs(env.heading_error(env.ref.state(env.t))) < 1e-6  # float32 quaternions
    # Turn the robot by 0.3 rad about z where it stands.
    pos, quat = env.robot.base_pose()
    turn = Rotation.from_euler("z", 0.3)
    new_quat = (turn * Rotation.from_quat(quat)).as_quat()
    q, dq = env.robot.joint_state()
    env.robot.reset(pos, new_quat, q, dq, np.zeros(3), np.zeros(3))
    raw = env.ref.state(env.t)
    assert env.heading_error(raw) == pytest.approx(-0.3, abs=1e-6)
    obs1 = env._observation(raw)["obs"]
    start = env.config.history * PROPRIO_SIZE
    for k in range(len(env.config.future_steps)):
        o = start + k * FUTURE_SIZE
        heading0, heading1 = obs0["obs"][o + 3], obs1[o + 3]
        assert heading1 == pytest.approx(heading0 - 0.3, abs=1e-5)
        np.testing.assert_allclose(np.linalg.norm(obs1[o:o + 2]),
                                   np.linalg.norm(obs0["obs"][o:o + 2]), atol=1e-5)
    # Past a cycle boundary the reference keeps its heading; its position moves onto the robot.
    env.reset(seed=0, options={"phase": env.ref.duration - 0.05})
    for _ in range(10):
        before = env._cycle
        env.step(np.zeros(12))
        if env._cycle != before:
            break
    assert env._origin is not None
    np.testing.assert_allclose(env._origin[0], np.eye(3), atol=1e-12)
    state = env._robot_quantities()
    np.testing.assert_allclose(env.ref_at(env.t).root_pos[:2], state["root_pos"][:2], atol=1e-9)
    env.close()


def test_standing_starts_begin_as_a_robot_does_after_its_ramp():
    """Standing still in the default pose at the reference's phase-0 place and heading."""
    import dataclasses

    from quadmimic.core.geometry import quat_to_matrix, yaw_of
    from quadmimic.core.robots import get_robot
    from sim_training.env import EnvConfig, ImitationEnv
    from tests.conftest import REPO

    motion = REPO / "data" / "motions" / "go2_backwards_trot.txt"
    cfg = dataclasses.replace(EnvConfig(heading_feedback=True), standing_start_fraction=1.0)
    env = ImitationEnv(motion, robot="go2", randomize=True, seed=3, config=cfg)
    try:
        _, info = env.reset(seed=3)
        assert info["standing"] and info["phase"] == 0.0
        q, dq = env.robot.joint_state()
        np.testing.assert_allclose(q, get_robot("go2").default, atol=1e-9)
        assert np.all(dq == 0.0)
        pos, quat = env.robot.base_pose()
        ref = env.ref.state(0.0)
        np.testing.assert_allclose(pos[:2], ref.root_pos[:2], atol=1e-9)
        assert float(yaw_of(quat_to_matrix(quat))) == pytest.approx(float(yaw_of(ref.root_rot)))
        feet = env.robot.foot_positions()[:, 2]
        assert np.all(np.abs(feet - get_robot("go2").foot_radius) < 0.01)  # on the ground
        # The option overrides the draw both ways.
        assert not env.reset(seed=4, options={"standing": False})[1]["standing"]
    finally:
        env.close()
    # With the default fraction 0, no draw is made: the episodes are those of before.
    plain = ImitationEnv(motion, robot="go2", randomize=True, seed=3,
                         config=EnvConfig(heading_feedback=True))
    try:
        infos = [plain.reset(seed=s)[1] for s in (5, 6)]
        assert not any(i["standing"] for i in infos)
    finally:
        plain.close()


def test_sensor_noise_perturbs_what_training_observes_not_what_it_is_rewarded_on():
    """Randomised episodes observe noisy IMU and encoders (the configured std); the reward
    and an env at fixed dynamics see the truth; a silent config draws nothing."""
    import dataclasses

    from sim_training.env import EnvConfig, ImitationEnv
    from sim_training.noise import SensorNoise
    from tests.conftest import REPO

    motion = REPO / "data" / "motions" / "go2_trot.txt"
    noise = SensorNoise(joint_angle=0.02, gyro=0.3, roll_pitch=0.05)
    cfg = dataclasses.replace(EnvConfig(heading_feedback=True), sensor_noise=noise)
    noisy = ImitationEnv(motion, robot="go2", randomize=True, seed=1, config=cfg)
    exact = ImitationEnv(motion, robot="go2", dynamics={}, seed=1, config=cfg)
    try:
        for env, expect_noise in ((noisy, True), (exact, False)):
            env.reset(seed=1)
            diffs = []
            for _ in range(40):
                obs = env.step(np.zeros(12))[0]["obs"]
                state = env._robot_quantities()
                diffs.append(obs[4:16] - state["joints"])  # newest frame's joint block
            diffs = np.array(diffs)
            if expect_noise:
                assert 0.012 < diffs.std() < 0.03  # 0.02 rad, measured over 480 draws
            else:
                assert np.abs(diffs).max() < 1e-6  # float32 observation
    finally:
        noisy.close()
        exact.close()
    from sim_training.noise import noisy_imu_and_joints

    rng_before = np.random.default_rng(0)
    rp, gyro, q = noisy_imu_and_joints(SensorNoise(), rng_before, np.zeros(2), np.zeros(3),
                                       np.zeros(12))
    assert rng_before.uniform() == np.random.default_rng(0).uniform()  # nothing drawn
    assert not rp.any() and not gyro.any() and not q.any()


def test_pushes_change_the_base_velocity_at_the_configured_rate():
    """A push adds up to push_speed m/s of horizontal base velocity; with a mean interval
    of one policy step every step pushes, and none happen at fixed dynamics."""
    import dataclasses

    from sim_training.env import EnvConfig, ImitationEnv
    from tests.conftest import REPO

    motion = REPO / "data" / "motions" / "go2_trot.txt"
    base = EnvConfig(heading_feedback=True)
    cfg = dataclasses.replace(base, push_interval_s=base.policy_dt / 2, push_speed=0.8)
    env = ImitationEnv(motion, robot="go2", randomize=True, seed=2, config=cfg)
    calm = ImitationEnv(motion, robot="go2", randomize=True, seed=2, config=base)
    try:
        speeds = []
        for e in (env, calm):
            e.reset(seed=2, options={"dynamics": {}, "phase": 0.0})
            before = e.robot.base_velocity()[0].copy()
            e._maybe_push()
            speeds.append(e.robot.base_velocity()[0] - before)
        pushed, unpushed = speeds
        assert 0.0 < np.hypot(*pushed[:2]) <= 0.8 + 1e-9 and abs(pushed[2]) < 1e-9
        assert np.allclose(unpushed, 0.0)
        # Over many draws the pushes fill the disc: some near its edge, none beyond.
        draws = []
        for _ in range(200):
            v0 = env.robot.base_velocity()[0].copy()
            env._maybe_push()
            draws.append(np.hypot(*(env.robot.base_velocity()[0] - v0)[:2]))
        assert max(draws) <= 0.8 + 1e-9 and max(draws) > 0.7 and min(draws) > 0.0
    finally:
        env.close()
        calm.close()
    with pytest.raises(ValueError, match="push"):
        dataclasses.replace(base, push_speed=-1.0)


def test_env_config_file_merges_nested_tables_and_names_the_file(tmp_path):
    """``--env-config``: a partial JSON/TOML over the training defaults; bad ones are located."""
    from quadmimic.core.errors import ConfigError
    from sim_training.config import env_config_from
    from sim_training.env import EnvConfig

    path = tmp_path / "env.toml"
    path.write_text('push_interval_s = 5.0\npush_speed = 0.5\n[ranges]\n'
                    'latency_s = [0.0, 0.06]\n[sensor_noise]\ngyro = 0.2\n')
    cfg = env_config_from(path, EnvConfig(physics_hz=500.0, heading_feedback=True),
                          {"standing_start_fraction": 0.25})
    assert cfg.physics_hz == 500.0 and cfg.heading_feedback  # the base is kept
    assert cfg.ranges.latency_s == (0.0, 0.06) and cfg.ranges.foot_friction == (0.5, 1.25)
    assert cfg.sensor_noise.gyro == 0.2 and cfg.sensor_noise.joint_angle == 0.0
    assert (cfg.push_interval_s, cfg.push_speed, cfg.standing_start_fraction) == (5.0, 0.5, 0.25)
    from tests.conftest import REPO

    shipped = env_config_from(REPO / "data" / "training" / "env_robust.json")  # what runs use
    assert shipped.push_speed > 0 and not shipped.sensor_noise.silent
    assert shipped.standing_start_fraction == 0.25
    smooth = env_config_from(REPO / "data" / "training" / "env_smooth.json")
    assert smooth.reward.action_rate_weight == 0.25 and smooth.ranges == shipped.ranges
    bad = tmp_path / "bad.json"
    bad.write_text('{"sensor_noise": {"gyro": -1}}')
    with pytest.raises(ConfigError, match=r"bad\.json.*gyro"):
        env_config_from(bad)


def test_train_options_win_over_the_env_config_file(tmp_path):
    """``quadmimic train --env-config F --standing-starts X``: the option wins, the file's
    other fields stay, and unset options keep the training defaults (500 Hz, heading)."""
    from sim_training.cli import _env_config

    path = tmp_path / "env.json"
    path.write_text('{"standing_start_fraction": 0.1, "push_speed": 0.4, "push_interval_s": 3}')
    cfg = _env_config(None, 0.5, path)
    assert (cfg.standing_start_fraction, cfg.push_speed, cfg.push_interval_s) == (0.5, 0.4, 3)
    assert cfg.physics_hz == 500.0 and cfg.heading_feedback
    assert _env_config(None, None).standing_start_fraction == 0.0


def test_action_rate_term_sees_the_policy_command_change():
    """The env reports ``action_rate`` from the change of the clipped action: 1 for a held
    command, exp(−scale·Σ Δa²) for a jump; weighted, it enters the total (renormalised)."""
    from sim_training.rewards import REGULARIZATION_TERMS, RewardConfig
    from tests.conftest import REPO

    motion = REPO / "data" / "motions" / "go2_trot.txt"
    reward = RewardConfig(action_rate_weight=0.2, action_rate_scale=0.1)
    cfg = dataclasses.replace(EnvConfig(heading_feedback=True), reward=reward)
    env = ImitationEnv(motion, robot="go2", dynamics={}, seed=0, config=cfg)
    try:
        env.reset(seed=0, options={"phase": 0.0})
        first = env.step(np.full(12, 0.5))[4]["reward_terms"]["action_rate"]
        held = env.step(np.full(12, 0.5))[4]["reward_terms"]["action_rate"]
        flip = np.full(12, -3.0)  # clipped to -1: a change of 1.5 per joint
        _, total, _, _, info = env.step(flip)
        terms = info["reward_terms"]
    finally:
        env.close()
    assert first == pytest.approx(np.exp(-0.1 * 12 * 0.25))  # from rest (zeros) to 0.5
    assert held == 1.0
    assert terms["action_rate"] == pytest.approx(np.exp(-0.1 * 12 * 1.5**2))
    paper = sum(w * terms[k] for k, w in RewardConfig().weights.items() if k in terms
                and k not in REGULARIZATION_TERMS)
    assert total == pytest.approx((paper + 0.2 * terms["action_rate"]) / 1.2)


def test_mean_velocity_term_averages_the_last_window_of_robot_and_reference():
    """``mean_velocity`` compares the horizontal velocities of robot and reference averaged
    over the last ``mean_velocity_window_s`` of steps (here 6 of 10), and weighted it enters
    the total."""
    from sim_training.rewards import RewardConfig
    from tests.conftest import REPO

    motion = REPO / "data" / "motions" / "go2_trot.txt"
    reward = RewardConfig(mean_velocity_weight=0.3, mean_velocity_window_s=0.2)
    cfg = dataclasses.replace(EnvConfig(heading_feedback=True), reward=reward)
    env = ImitationEnv(motion, robot="go2", dynamics={}, seed=0, config=cfg)
    robot, ref = [], []
    try:
        env.reset(seed=0, options={"phase": 0.0})
        for _ in range(10):  # 0.33 s: within the clip's first cycle (no origin sync)
            _, total, _, _, info = env.step(np.zeros(12))
            robot.append(env.robot.base_velocity()[0][:2])
            ref.append(env.placed_reference_now().root_lin_vel[:2])
    finally:
        env.close()
    window = round(0.2 * cfg.policy_hz)
    assert window == 6
    error = np.mean(ref[-window:], axis=0) - np.mean(robot[-window:], axis=0)
    terms = info["reward_terms"]
    assert terms["mean_velocity"] == pytest.approx(np.exp(-10.0 * float(error @ error)))
    assert terms["mean_velocity"] != pytest.approx(  # not the whole episode's mean
        np.exp(-10.0 * float(np.sum((np.mean(ref, axis=0) - np.mean(robot, axis=0)) ** 2))))
    weights = reward.weights
    expected = sum(weights[k] * v for k, v in terms.items()) / sum(weights[k] for k in terms)
    assert total == pytest.approx(expected)
