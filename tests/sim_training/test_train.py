"""Training: the KL term by hand, tiny end-to-end runs, kill + resume, bundles, export."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch as th

from quadmimic.core.errors import BundleError
from sim_training.bundle import PolicyBundle, lineage_of, write_bundle
from sim_training.config import PPOConfig, TrainConfig, from_dict, load_train_config, to_dict
from sim_training.evaluate import evaluate
from sim_training.export import export_bundle
from sim_training.policy import LatentNoise, gaussian_kl
from sim_training.train import Trainer
from sim_training.vec_env import make_vec_env
from tests.conftest import REPO

MOTION = str(REPO / "data" / "motions" / "a1_trot.txt")
TINY = PPOConfig(n_steps=128, batch_size=128, n_epochs=2)


def test_kl_matches_the_hand_computed_value():
    # dim 1: mean 1, σ 1 → 1 ; dim 2: mean 0, σ 2 → 4 − 1 − 2 ln 2
    kl = gaussian_kl(th.tensor([[1.0, 0.0]]), th.tensor([[0.0, math.log(2.0)]]))
    assert kl.item() == pytest.approx(0.5 * (1.0 + 3.0 - 2.0 * math.log(2.0)), rel=1e-6)
    assert gaussian_kl(th.zeros(3, 8), th.zeros(3, 8)).abs().max().item() == 0.0


def test_config_round_trips_through_json():
    cfg = TrainConfig(motion="m.txt", ppo=TINY)
    assert from_dict(TrainConfig, json.loads(json.dumps(to_dict(cfg)))) == cfg
    with pytest.raises(ValueError, match="no field 'bogus'"):
        from_dict(TrainConfig, {**to_dict(cfg), "bogus": 1})


def test_config_checks_the_env_split_and_old_runs_resume_in_lockstep(tmp_path):
    with pytest.raises(ValueError, match=r"num_envs \(6\) must be a multiple of num_workers "
                                         r"× groups_per_worker \(2 × 2\)"):
        TrainConfig(motion="m.txt", num_envs=6)
    assert TrainConfig(motion="m.txt", num_envs=6, num_workers=0).num_envs == 6
    old = {k: v for k, v in to_dict(TrainConfig(motion="m.txt", num_envs=8)).items()
           if k != "groups_per_worker"}  # a run from before grouped collection
    (tmp_path / "config.json").write_text(json.dumps(old))
    assert load_train_config(tmp_path / "config.json").groups_per_worker == 1


def test_latent_noise_is_fixed_per_episode():
    venv = make_vec_env(MOTION, num_envs=2, seed=0, num_workers=0)
    noisy = LatentNoise(venv, 8, seed=1)
    obs = noisy.reset()
    first = obs["z_noise"].copy()
    rng = np.random.default_rng(0)
    changed = False
    for _ in range(40):
        obs, _, dones, _ = noisy.step(rng.uniform(-1, 1, (2, 12)).astype(np.float32))
        for i in range(2):
            if dones[i]:
                changed = changed or not np.array_equal(obs["z_noise"][i], first[i])
                first[i] = obs["z_noise"][i]
            else:
                np.testing.assert_array_equal(obs["z_noise"][i], first[i])
    assert changed
    noisy.close()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "a1"
    cfg = TrainConfig(motion=MOTION, timesteps=512, num_envs=2, num_workers=0, ppo=TINY)
    trainer = Trainer.create(cfg, run)
    trainer.train()
    trainer.close()
    return run


def test_tiny_training_writes_a_loadable_bundle(tiny_run, tmp_path):
    assert (tiny_run / "LATEST").read_text().strip() == f"{512:012d}"
    bundle = PolicyBundle.load(write_bundle(tiny_run, tmp_path / "bundle"))
    assert bundle.robot == "a1" and bundle.z_dim == 8
    assert bundle.manifest["samples"] == 512
    obs = np.zeros(bundle.obs_mean.shape)
    a1 = bundle.act(obs, z=np.zeros(8))
    a2 = bundle.act(obs, z=np.ones(8))
    assert a1.shape == (12,) and np.all(np.abs(a1) <= 1) and not np.array_equal(a1, a2)
    curve = json.loads((tmp_path / "bundle" / "curve.json").read_text())
    assert curve and "reward_terms.pose" in curve[-1]
    result = evaluate(bundle, episodes=2, json_out=tmp_path / "eval.json")
    saved = json.loads((tmp_path / "eval.json").read_text())
    for key in ("mean_return", "mean_episode_seconds", "fall_rate", "reward_terms.pose"):
        assert key in saved and np.isfinite(saved[key])
    assert result["fall_rate"] in (0.0, 0.5, 1.0)
    # A run directory is accepted wherever a bundle is.
    assert PolicyBundle.load(tiny_run).manifest["samples"] == 512


@pytest.mark.slow
def test_bundle_command_writes_everything_a_shipped_policy_carries(tiny_run, tmp_path):
    out = tmp_path / "a1_trot"
    proc = subprocess.run([sys.executable, "-m", "quadmimic", "bundle", str(tiny_run), "--out",
                           str(out), "--episodes", "1"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    names = {p.name for p in out.iterdir()}
    assert {"manifest.json", "config.json", "policy.pt", "normalization.npz", "motion.txt",
            "curve.json", "learning_curve.png", "eval.json", "rollout.gif"} <= names
    assert json.loads((out / "eval.json").read_text())["episodes"] == 1
    assert not list(tmp_path.glob(".*"))  # no temp dir left behind
    assert PolicyBundle.load(out).manifest["samples"] == 512


def test_export_parity(tiny_run, tmp_path):
    report = export_bundle(PolicyBundle.load(tiny_run), tmp_path / "export")
    assert report["parity_ok"]
    assert report["actor_onnx_max_abs_diff"] < 1e-5
    assert report["encoder_onnx_max_abs_diff"] < 1e-5
    assert {"actor.onnx", "actor.pt2", "encoder.onnx", "encoder.pt2", "deploy.json",
            "motion.txt"} <= {
        p.name for p in (tmp_path / "export").iterdir()}


def test_bundles_never_execute_code(tiny_run, tmp_path):
    bundle = write_bundle(tiny_run, tmp_path / "b")
    (bundle / "normalization.npz").unlink()
    with pytest.raises(BundleError, match=r"normalization\.npz is missing"):
        PolicyBundle.load(bundle)
    bundle = write_bundle(tiny_run, tmp_path / "c")

    class Evil:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    th.save({"x": Evil()}, bundle / "policy.pt")
    with pytest.raises(Exception):  # noqa: B017 - weights_only refuses any object
        PolicyBundle.load(bundle)
    assert not (tmp_path / "pwned").exists()


def test_a_run_can_start_from_another_runs_weights(tiny_run, tmp_path):
    """Fine-tuning (e.g. a pace from a trot): weights and obs statistics carried over."""
    cfg = TrainConfig(motion=MOTION, timesteps=128, num_envs=2, num_workers=0, ppo=TINY,
                      seed=3, init_from=str(tiny_run))
    trainer = Trainer.create(cfg, tmp_path / "tuned")
    source = PolicyBundle.load(tiny_run)
    for key, value in source.policy.state_dict().items():
        th.testing.assert_close(trainer.model.policy.state_dict()[key], value)
    np.testing.assert_array_equal(trainer.norm.obs_rms["obs"].mean, source.obs_mean)
    trainer.train()
    trainer.close()
    # The bundle's learning curve is the whole lineage, in total samples.
    curve = json.loads((write_bundle(tmp_path / "tuned", tmp_path / "b") / "curve.json")
                       .read_text())
    inherited = [r for r in curve if r["from"] == str(tiny_run)]
    assert inherited and inherited[-1]["timesteps"] == 512
    assert curve[-1]["timesteps"] > 512 and curve[-1]["from"] == str(tmp_path / "tuned")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["samples_including_init"] == manifest["samples"] + 512
    # Started from one checkpoint directory of a run, the lineage is the run's up to it.
    ckpt = tiny_run / "checkpoints" / (tiny_run / "LATEST").read_text().strip()
    assert lineage_of(ckpt) == lineage_of(tiny_run) and lineage_of(ckpt)[-1]["timesteps"] == 512
    wider = TrainConfig(motion=MOTION, num_envs=2, num_workers=0, ppo=TINY,
                        model=dataclasses.replace(cfg.model, actor_hidden=(64, 64)),
                        init_from=str(tiny_run))
    with pytest.raises(BundleError, match="does not fit"):
        Trainer.create(wider, tmp_path / "mismatch").close()


def test_a_latent_policy_seeds_a_robust_baseline_as_its_prior(tiny_run, tmp_path):
    """Dropping the z inputs gives the latent policy at z = 0: the same actions."""
    cfg = TrainConfig(motion=MOTION, timesteps=128, num_envs=2, num_workers=0, ppo=TINY,
                      latent=False, init_from=str(tiny_run))
    trainer = Trainer.create(cfg, tmp_path / "robust")
    trainer.save_checkpoint()  # before any training: exactly the seeded weights
    trainer.close()
    latent, robust = PolicyBundle.load(tiny_run), PolicyBundle.load(tmp_path / "robust")
    assert robust.z_dim == 0
    obs = latent.obs_mean + np.random.default_rng(0).standard_normal(latent.obs_mean.shape)
    np.testing.assert_allclose(robust.act(obs), latent.act(obs, z=np.zeros(8)),
                               atol=1e-5)


def test_resume_trains_on_the_runs_own_motion_copy(tmp_path):
    """Editing or deleting the source motion file does not change a resumed run."""
    src = tmp_path / "m.txt"
    src.write_text((REPO / "data" / "motions" / "a1_trot.txt").read_text())
    cfg = TrainConfig(motion=str(src), timesteps=128, num_envs=2, num_workers=0, ppo=TINY)
    Trainer.create(cfg, tmp_path / "run").close()
    src.unlink()
    trainer = Trainer.resume(tmp_path / "run")
    assert trainer.config.motion == str(tmp_path / "run" / "motion.txt")
    trainer.close()


def test_a_warm_start_can_begin_at_the_full_ranges(tmp_path):
    """``--curriculum-start 1``: a policy already trained on the full ranges starts there."""
    cfg = TrainConfig(motion=MOTION, timesteps=128, num_envs=2, num_workers=0, ppo=TINY,
                      curriculum_start=1.0)
    trainer = Trainer.create(cfg, tmp_path / "run")
    assert trainer.fraction == 1.0
    trainer.close()
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["curriculum_start"] == 1.0


def test_robust_baseline_trains_without_encoder(tmp_path):
    cfg = TrainConfig(motion=MOTION, timesteps=256, num_envs=2, num_workers=0, ppo=TINY,
                      latent=False)
    trainer = Trainer.create(cfg, tmp_path / "robust")
    trainer.train()
    trainer.close()
    bundle = PolicyBundle.load(tmp_path / "robust")
    assert bundle.z_dim == 0
    assert bundle.act(np.zeros(bundle.obs_mean.shape)).shape == (12,)
    from sim_training.export import OnnxActor  # the deploy path: no z input in its graph

    np.testing.assert_allclose(OnnxActor(bundle)(bundle.obs_mean),
                               bundle.act(bundle.obs_mean), atol=1e-5)
    with pytest.raises(BundleError, match="no latent"):
        bundle.encode({})


def test_the_best_evaluated_checkpoint_outlives_pruning(tmp_path):
    """``BEST`` names the checkpoint whose nominal evaluation had the highest return without a
    fall; pruning keeps it beside the newest two, and a resumed run goes on comparing with it."""
    run = tmp_path / "run"
    trainer = Trainer.create(TrainConfig(motion=MOTION, timesteps=128, num_envs=2,
                                         num_workers=0, ppo=TINY), run)

    def checkpoint(trainer, steps, ret=None, fall=0.0):
        trainer.model.num_timesteps = steps
        row = {"timesteps": float(steps)}
        if ret is not None:
            row |= {"eval_nominal_return": ret, "eval_nominal_fall_rate": fall}
        trainer.curve.append(row)
        trainer.save_checkpoint()

    checkpoint(trainer, 100, 210.0)
    checkpoint(trainer, 200, 220.0)
    checkpoint(trainer, 300, 250.0, fall=0.5)  # the highest return, but an episode fell
    checkpoint(trainer, 400, 215.0)
    checkpoint(trainer, 500)  # the end of a run: no evaluation
    trainer.close()
    assert (run / "BEST").read_text().strip() == f"{200:012d}"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        f"{s:012d}" for s in (200, 400, 500)]
    trainer = Trainer.resume(run)
    checkpoint(trainer, 600, 230.0)
    trainer.close()
    assert (run / "BEST").read_text().strip() == f"{600:012d}"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        f"{s:012d}" for s in (500, 600)]
    (run / "BEST").write_text(f"{550:012d}\n")  # a checkpoint deleted by hand
    trainer = Trainer.resume(run)
    checkpoint(trainer, 700)
    trainer.close()
    assert not (run / "BEST").exists()


@pytest.mark.slow
def test_killed_run_resumes_without_losing_checkpoints(tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "quadmimic", "train", MOTION, "--out", str(run),
           "--timesteps", "3072", "--num-envs", "2", "--num-workers", "0",
           "--checkpoint-minutes", "0.01"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline:
        latest = run / "LATEST"
        if latest.exists() and int(latest.read_text()) >= 1024:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up
    proc.wait()
    killed_at = int((run / "LATEST").read_text())
    assert 1024 <= killed_at < 3072
    assert (run / "checkpoints" / f"{killed_at:012d}" / "state.json").is_file()
    done = subprocess.run([sys.executable, "-m", "quadmimic", "train", "--resume", str(run)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert int((run / "LATEST").read_text()) == 3072
    state = json.loads((run / "checkpoints" / f"{3072:012d}" / "state.json").read_text())
    steps = [row["timesteps"] for row in state["curve"]]
    assert steps == sorted(steps) and steps[-1] <= 3072 and len(steps) >= 5
    evals = [row for row in state["curve"] if "eval_nominal_seconds" in row]
    assert evals and all(0.0 < r["eval_nominal_seconds"] <= 10.0 for r in evals)


@pytest.mark.slow
def test_ctrl_c_stops_training_at_a_step_with_a_checkpoint(tmp_path):
    """Ctrl-C (SIGINT to the whole process group, env workers included) stops at the next
    step, writes a complete checkpoint there, exits 0, and the run resumes from it."""
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "quadmimic", "train", MOTION, "--out", str(run),
           "--timesteps", "100000", "--num-envs", "2", "--num-workers", "1",
           "--checkpoint-minutes", "60"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.time() + 240
    while time.time() < deadline and not (run / "tb").exists():
        time.sleep(0.2)
    time.sleep(3.0)  # in the middle of collecting
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "Traceback" not in out and "stopping at the next step" in out
    stopped_at = int((run / "LATEST").read_text())
    assert 0 < stopped_at < 100000
    ck = run / "checkpoints" / f"{stopped_at:012d}"
    assert json.loads((ck / "state.json").read_text())["num_timesteps"] == stopped_at
    assert len(json.loads((ck / "generators.json").read_text())["envs"]) == 2
    Trainer.resume(run).close()


def test_curriculum_widens_on_the_last_100_episodes_not_on_one_rollout(tmp_path):
    """A rollout whose few episodes cross the threshold by chance does not widen the ranges."""
    from collections import deque

    from stable_baselines3.common.logger import configure

    from sim_training.train import CURRICULUM_EPISODES, _RunCallback

    cfg = TrainConfig(motion=MOTION, num_envs=2, num_workers=0, ppo=TINY)
    trainer = Trainer.create(cfg, tmp_path / "run")
    callback = _RunCallback(trainer)
    callback.init_callback(trainer.model)
    trainer.model.set_logger(configure(str(tmp_path / "log"), []))  # not SB3's /tmp/SB3-*
    steps_limit = cfg.env.episode_seconds / cfg.env.policy_dt
    start = trainer.fraction

    def rollout(lengths_this_rollout: list[float], buffer: list[float]) -> None:
        callback.lengths = list(lengths_this_rollout)
        callback.returns = [1.0] * len(lengths_this_rollout)
        trainer.model.ep_info_buffer = deque(({"l": n, "r": 1.0} for n in buffer), maxlen=100)
        callback._on_rollout_end()

    # This rollout's 3 episodes are long, the last 100 are short: no widening.
    rollout([steps_limit] * 3, [0.3 * steps_limit] * 100)
    assert trainer.fraction == start
    # Long episodes, but too few of them yet.
    rollout([steps_limit] * 3, [steps_limit] * (CURRICULUM_EPISODES - 1))
    assert trainer.fraction == start
    # Enough long episodes: one widening step, and the buffer starts afresh.
    rollout([steps_limit] * 3, [0.9 * steps_limit] * 100)
    assert trainer.fraction == pytest.approx(start + cfg.curriculum_step)
    assert len(trainer.model.ep_info_buffer) == 0
    trainer.close()


def test_resume_continues_the_generators_instead_of_reseeding(tmp_path):
    """Env generators (dynamics, start phases) and numpy's (minibatch order) carry on."""
    cfg = TrainConfig(motion=MOTION, timesteps=256, num_envs=2, num_workers=0, ppo=TINY)
    trainer = Trainer.create(cfg, tmp_path / "run")
    trainer.train()  # ends with a checkpoint
    saved_envs = trainer.norm.env_method("rng_state")
    np_next = np.random.get_state()[1].copy()
    fresh = trainer.norm.env_method("rng_state")
    trainer.close()
    first = Trainer(cfg, tmp_path / "elsewhere")  # what a reseeded run would draw
    reseeded = first.norm.env_method("rng_state")
    first.close()
    resumed = Trainer.resume(tmp_path / "run")
    assert resumed.norm.env_method("rng_state") == saved_envs == fresh
    assert resumed.norm.env_method("rng_state") != reseeded
    np.testing.assert_array_equal(np.random.get_state()[1], np_next)
    resumed.close()


def test_warm_start_across_robots_reestimates_the_observation_statistics(tmp_path, tiny_policy):
    """An A1 policy seeds a Go2 run: same layout, weights copied, statistics this robot's."""
    go2 = str(REPO / "data" / "motions" / "go2_trot.txt")
    cfg = TrainConfig(motion=go2, robot="go2", timesteps=128, num_envs=2, num_workers=0,
                      ppo=TINY, init_from=str(tiny_policy))
    trainer = Trainer.create(cfg, tmp_path / "go2")
    source = PolicyBundle.load(tiny_policy)
    weights = trainer.model.policy.state_dict()
    for key, value in th.load(tiny_policy / "checkpoints" / (tiny_policy / "LATEST")
                              .read_text().strip() / "policy.pt", weights_only=True).items():
        th.testing.assert_close(weights[key], value)
    rms = trainer.norm.obs_rms["obs"]
    assert rms.count < 10.0  # the A1's statistics are a prior of one sample
    trainer.train()
    rms = trainer.norm.obs_rms["obs"]
    # After one rollout the statistics are the Go2's: its standing knee angle (-1.8 rad at
    # default) pulls the knee joint means away from the A1's.
    assert rms.count > 100
    assert not np.allclose(rms.mean, source.obs_mean, atol=1e-3)
    trainer.close()
    assert json.loads((tmp_path / "go2" / "config.json").read_text())["robot"] == "go2"


def test_warm_start_with_another_observation_layout_is_one_line(tmp_path, tiny_policy):
    from sim_training.env import EnvConfig

    cfg = TrainConfig(motion=MOTION, timesteps=128, num_envs=4, num_workers=2, ppo=TINY,
                      init_from=str(tiny_policy), env=EnvConfig(history=2))
    with pytest.raises(BundleError, match="observation layout 156 does not fit this run's 128"):
        Trainer.create(cfg, tmp_path / "other")
    assert not (tmp_path / "other").exists()  # refused before any worker or file
