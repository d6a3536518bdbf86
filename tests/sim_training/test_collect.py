"""Group-by-group rollout collection against SB3's lockstep collection."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch as th
from stable_baselines3.common.buffers import DictRolloutBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecNormalize

from sim_training.collect import GroupStepper, SegmentRolloutBuffer, normalize_group
from sim_training.config import PPOConfig, TrainConfig
from sim_training.policy import LatentNoise
from sim_training.train import build
from sim_training.vec_env import make_vec_env
from tests.conftest import REPO

MOTION = str(REPO / "data" / "motions" / "a1_trot.txt")


class _Capture(BaseCallback):
    """Copies the rollout buffer before the update and counts steps."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer: dict[str, np.ndarray] = {}
        self.lengths = np.zeros(0, dtype=int)
        self.steps = 0

    def _on_step(self) -> bool:
        self.steps += 1
        return True

    def _on_rollout_end(self) -> None:
        buf = self.model.rollout_buffer
        self.lengths = getattr(buf, "lengths", np.full(buf.n_envs, buf.buffer_size)).copy()
        self.buffer = {f"obs.{k}": v.copy() for k, v in buf.observations.items()}
        for name in ("actions", "rewards", "episode_starts", "values", "returns",
                     "advantages"):
            self.buffer[name] = getattr(buf, name).copy()


def _collect(groups: int, n_steps: int, log_std: float, freeze_norm: bool,
             latent: bool = True) -> tuple[dict[str, np.ndarray], _Capture, object]:
    cfg = TrainConfig(motion=MOTION, num_envs=4, num_workers=2, groups_per_worker=groups,
                      latent=latent,
                      ppo=PPOConfig(n_steps=n_steps, batch_size=4 * n_steps, n_epochs=1))
    model, norm, noise = build(cfg)
    norm.training = not freeze_norm
    model.policy.log_std.data[:] = log_std
    capture = _Capture()
    try:
        model.learn(total_timesteps=4 * n_steps, callback=capture)
        return capture.buffer, capture, model
    finally:
        noise.close()


@pytest.mark.slow
def test_grouped_collection_equals_lockstep_collection():
    """With (numerically) deterministic actions and frozen statistics, both ways of stepping
    give the same data: each env's segment is a prefix of (or extends) the same trajectory,
    and the rollout holds n_steps × num_envs samples. (Without the latent: the order in
    which envs end episodes differs between the two, and with it who gets which fresh ε.)"""
    grouped, cap_g, model_g = _collect(2, 24, log_std=-20.0, freeze_norm=True, latent=False)
    lockstep, cap_l, _ = _collect(1, 24, log_std=-20.0, freeze_norm=True, latent=False)
    lengths = cap_g.lengths
    assert lengths.sum() == 96 and model_g.num_timesteps == 96
    # One callback step per group step: groups of 1 env here, lockstep steps all 4 at once.
    assert cap_g.steps == 96 and cap_l.steps == 24
    for key in ("obs.obs", "obs.dynamics", "actions", "rewards", "values", "episode_starts"):
        for env, length in enumerate(lengths):
            common = min(int(length), 24)
            np.testing.assert_allclose(grouped[key][:common, env], lockstep[key][:common, env],
                                       atol=1e-4, err_msg=f"{key} env {env}")
            assert not grouped[key][length:, env].any()  # nothing written past the segment
    full = np.flatnonzero(lengths == 24)
    np.testing.assert_allclose(grouped["advantages"][:24, full],
                               lockstep["advantages"][:, full], atol=1e-4)
    assert np.abs(lockstep["obs.obs"]).sum(axis=-1).min() > 0  # every slot was written


def test_grouped_collection_keeps_episode_bookkeeping():
    """With random actions the robots fall: episode starts follow the ends, the latent noise
    is fixed within an episode, and finished episodes reach the info buffer."""
    buf, capture, model = _collect(2, 48, log_std=0.5, freeze_norm=False)
    lengths = capture.lengths
    assert lengths.sum() == 48 * 4 and capture.steps == 48 * 4  # groups of 1 env
    starts, noise = buf["episode_starts"], buf["obs.z_noise"]
    assert starts[0].all()  # the first observation of a run starts an episode
    ended = 0
    for env, length in enumerate(lengths):
        s, z = starts[:length, env], noise[:length, env]
        same = np.all(z[1:] == z[:-1], axis=-1)
        np.testing.assert_array_equal(same, ~s[1:].astype(bool))
        ended += int(s[1:].sum())
    assert ended > 0  # some episodes ended during the rollout
    assert ended <= len(model.ep_info_buffer) <= ended + 4  # + those ending on the last step
    assert all(np.isfinite(v).all() for v in buf.values())


def test_normalize_group_is_vecnormalize_step_split_in_groups():
    venv = make_vec_env(MOTION, num_envs=4, seed=3, num_workers=0)
    whole = VecNormalize(venv, norm_obs_keys=["obs"], gamma=0.95)
    parts = VecNormalize(venv, norm_obs_keys=["obs"], gamma=0.95)  # never stepped itself
    whole.reset()  # its statistics now include the first observations: start parts there
    parts.obs_rms, parts.ret_rms = copy.deepcopy(whole.obs_rms), copy.deepcopy(whole.ret_rms)
    parts.returns = np.zeros(4)
    rng = np.random.default_rng(0)
    for _ in range(5):
        act = rng.uniform(-0.3, 0.3, (4, 12)).astype(np.float32)
        venv.step_async(act)
        raw, rews, dones, infos = venv.step_wait()
        whole.venv = _Replay(raw, rews, dones, infos)
        whole.step_wait()
        for idx in (np.array([0, 1]), np.array([2, 3])):
            normalize_group(parts, idx, {k: v[idx] for k, v in raw.items()}, rews[idx],
                            dones[idx], [dict(infos[i]) for i in idx])
    np.testing.assert_allclose(parts.returns, whole.returns)
    np.testing.assert_allclose(parts.obs_rms["obs"].mean, whole.obs_rms["obs"].mean,
                               atol=1e-7)  # float32 observations
    np.testing.assert_allclose(parts.obs_rms["obs"].var, whole.obs_rms["obs"].var, rtol=1e-6)
    np.testing.assert_allclose(parts.ret_rms.var, whole.ret_rms.var, rtol=1e-6)
    venv.close()


class _Replay:
    """A stand-in inner env whose step_wait returns given results."""

    def __init__(self, *result: object) -> None:
        self.result = result

    def step_wait(self) -> tuple:
        return self.result


def test_latent_noise_terminal_observation_keeps_its_episodes_noise():
    venv = make_vec_env(MOTION, num_envs=2, seed=0, num_workers=0)
    noisy = LatentNoise(venv, 8, seed=1)
    noisy.reset()
    before = noisy.noise.copy()
    obs = {"obs": np.zeros((2, 3))}
    infos = [{"terminal_observation": {"obs": np.zeros(3)}}, {}]
    out = noisy.group_step(np.array([0, 1]), obs, np.array([True, False]), infos)
    np.testing.assert_array_equal(infos[0]["terminal_observation"]["z_noise"], before[0])
    assert not np.array_equal(out["z_noise"][0], before[0])  # a new episode, a new ε
    np.testing.assert_array_equal(out["z_noise"][1], before[1])
    noisy.close()


def test_stepper_only_for_grouped_process_envs():
    cfg = TrainConfig(motion=MOTION, num_envs=2, num_workers=0)
    _, _, noise = build(dataclasses.replace(cfg, groups_per_worker=2))
    try:
        assert GroupStepper.of(noise) is None  # in-process envs: SB3's collection
    finally:
        noise.close()


def _segment_buffer(target: int, n_envs: int, gamma: float, lam: float):
    import gymnasium as gym

    space = gym.spaces.Dict({"obs": gym.spaces.Box(-1, 1, (2,), np.float32)})
    act = gym.spaces.Box(-1, 1, (1,), np.float32)
    return SegmentRolloutBuffer(target, space, act, device="cpu", gae_lambda=lam, gamma=gamma,
                                n_envs=n_envs), space, act


def test_segment_gae_by_hand():
    buf, _, _ = _segment_buffer(2, 2, gamma=0.5, lam=0.5)  # room: 4 steps per env
    buf.lengths = np.array([3, 1])
    buf.rewards[:3, 0] = [1, 2, 3]
    buf.values[:3, 0] = [0.5, 1, 1.5]
    buf.episode_starts[:3, 0] = [1, 0, 1]  # the episode ended after step 1
    buf.rewards[0, 1], buf.values[0, 1] = 4, 1
    buf.full = True
    buf.compute_returns_and_advantage(th.tensor([2.0, 3.0]), np.array([False, True]))
    # env 0: t2 δ = 3 + .5·2 − 1.5 = 2.5; t1 δ = 2 − 1 (no bootstrap over the end) = 1,
    # A = 1; t0 δ = 1 + .5·1 − .5 = 1, A = 1 + .25·1 = 1.25. env 1: done: δ = 4 − 1 = 3.
    np.testing.assert_allclose(buf.advantages[:, 0], [1.25, 1, 2.5, 0])
    np.testing.assert_allclose(buf.advantages[:, 1], [3, 0, 0, 0])
    np.testing.assert_allclose(buf.returns[:3, 0], [1.75, 2, 4])
    batches = list(buf.get(batch_size=3))
    got = sorted(float(r) for b in batches for r in b.returns)
    assert [len(b.returns) for b in batches] == [3, 1] and got == [1.75, 2, 4, 4]


def test_segment_gae_equals_sb3_per_segment():
    rng = np.random.default_rng(0)
    buf, space, act = _segment_buffer(6, 3, gamma=0.95, lam=0.9)
    buf.lengths = np.array([12, 5, 1])
    for name in ("rewards", "values"):
        getattr(buf, name)[:] = rng.normal(size=(12, 3))
    buf.episode_starts[:] = rng.random((12, 3)) < 0.2
    last, dones = rng.normal(size=3), np.array([True, False, False])
    buf.compute_returns_and_advantage(th.tensor(last, dtype=th.float32), dones)
    for env, length in enumerate(buf.lengths):
        ref = DictRolloutBuffer(int(length), space, act, device="cpu", gae_lambda=0.9,
                                gamma=0.95, n_envs=1)
        for t in range(length):
            ref.add({"obs": np.zeros((1, 2))}, np.zeros((1, 1)),
                    np.array([buf.rewards[t, env]]), np.array([buf.episode_starts[t, env]]),
                    th.tensor([buf.values[t, env]]), th.zeros(1))
        ref.compute_returns_and_advantage(th.tensor([last[env]]), dones[env:env + 1])
        np.testing.assert_allclose(buf.advantages[:length, env], ref.advantages[:, 0],
                                   rtol=1e-5, atol=1e-6)
        assert not buf.advantages[length:, env].any()
