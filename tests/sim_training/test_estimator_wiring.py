"""The z estimator wired in: bundles carry it, eval and the deploy loop act with it, the
export ships it, the CLI trains it and chooses z (real PyBullet, ONNX, processes)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest

from quadmimic.core.errors import BundleError, ConfigError
from robot_deploy.backends.sim import SimBackend
from robot_deploy.controller import PolicyController
from sim_training.bundle import PolicyBundle, write_bundle
from sim_training.estimator import choose_z
from sim_training.estimator_training import run_episode
from sim_training.evaluate import evaluate
from sim_training.export import export_bundle
from tests.conftest import REPO, TINY_ESTIMATOR


def test_a_bundle_carries_its_estimator_and_passes_it_on(tiny_bundle_with_estimator,
                                                         tiny_policy, tmp_path):
    assert PolicyBundle.load(tiny_policy).estimator() is None  # a run: none trained
    bundle = PolicyBundle.load(tiny_bundle_with_estimator)
    estimator = bundle.estimator()
    assert estimator is not None and estimator.window == TINY_ESTIMATOR["window"]
    assert bundle.estimator() is estimator  # read once
    # An adapted bundle (a copy with a fixed z) keeps the estimator, which still fits it.
    adapted = write_bundle(tiny_bundle_with_estimator, tmp_path / "adapted", z=np.ones(8))
    assert (adapted / "estimator.pt").is_file() and (adapted / "estimator.json").is_file()
    assert PolicyBundle.load(adapted).estimator().window == estimator.window


def test_an_inconsistent_estimator_is_one_located_line(tiny_bundle_with_estimator, tmp_path):
    folder = shutil.copytree(tiny_bundle_with_estimator, tmp_path / "b")
    (folder / "estimator.pt").unlink()
    with pytest.raises(BundleError, match=r"estimator\.pt is missing") as err:
        PolicyBundle.load(folder).estimator()
    assert "\n" not in str(err.value) and str(folder) in str(err.value)
    shutil.copyfile(tiny_bundle_with_estimator / "estimator.pt", folder / "estimator.pt")
    meta = json.loads((folder / "estimator.json").read_text())
    meta["z_dim"] = 4
    (folder / "estimator.json").write_text(json.dumps(meta))
    with pytest.raises(BundleError, match="z_dim 4, the policy takes 8"):
        PolicyBundle.load(folder).estimator()


def test_the_z_choice_defaults_to_the_estimate_or_the_prior(tiny_bundle_with_estimator,
                                                            tiny_policy, tmp_path):
    with_estimator = PolicyBundle.load(tiny_bundle_with_estimator)
    choice = choose_z(with_estimator, None)
    assert choice.kind == "estimate" and "carries an estimator" in choice.describe()
    plain = PolicyBundle.load(tiny_policy)
    choice = choose_z(plain, None)
    assert choice.kind == "prior" and not choice.z.any()
    assert "carries no estimator" in choice.describe()
    with pytest.raises(BundleError, match="--z estimate: this policy carries no estimator"):
        choose_z(plain, "estimate")
    with pytest.raises(ConfigError, match=r"8 finite numbers.*got 2"):
        choose_z(plain, "1,2")
    adapted = PolicyBundle.load(write_bundle(tiny_bundle_with_estimator, tmp_path / "a",
                                             z=np.full(8, 0.5)))
    assert choose_z(adapted, None).kind == "fixed"  # an adapted bundle: its own z
    assert choose_z(adapted, "estimate").kind == "estimate"
    assert choose_z(adapted, "prior").kind == "prior"


def test_eval_acts_with_the_online_estimate_as_the_dagger_rollouts_do(
        tiny_bundle_with_estimator):
    bundle = PolicyBundle.load(tiny_bundle_with_estimator)
    estimator = bundle.estimator()
    result = evaluate(bundle, estimator=estimator, episodes=1, seed=3)
    assert result.z_source == "estimate" and len(result.mean_z_hat) == 8
    assert result.to_json()["z_source"] == "estimate"
    # The same episode acting with the estimate, stepped by the estimator's training code.
    from sim_training.env import ImitationEnv

    env = ImitationEnv(bundle.motion_path, robot=bundle.robot, randomize=False, seed=3,
                       config=bundle.config.env)
    try:
        episode = run_episode(bundle, env, "estimate", runtime=estimator.runtime(), seed=3,
                              max_steps=10_000)
    finally:
        env.close()
    assert result.per_episode[0]["steps"] == episode.steps
    assert result.mean_return == pytest.approx(episode.total_reward, rel=1e-9)
    prior = evaluate(bundle, z=np.zeros(8), episodes=1, seed=3)
    assert "z_source" not in prior.to_json()  # files without a choice keep their keys
    with pytest.raises(ValueError):
        evaluate(bundle, z=np.zeros(8), estimator=estimator, episodes=1)


def test_the_deploy_loop_runs_the_estimator_at_the_policy_rate(tiny_bundle_with_estimator):
    bundle = PolicyBundle.load(tiny_bundle_with_estimator)
    estimator = bundle.estimator()
    backend = SimBackend("a1")
    try:
        controller = PolicyController(bundle, backend, estimator=estimator)
        result = controller.run(0.5, ramp_seconds=0.1)
    finally:
        backend.close()
    assert result.policy_steps > estimator.window
    assert len(result.z_hats) == len(result.estimator_us) == result.policy_steps
    assert result.estimator_window == estimator.window
    np.testing.assert_allclose(result.mean_z_hat(),
                               np.mean(result.z_hats[estimator.window - 1:], axis=0))
    assert not np.allclose(result.z_hats[0], result.z_hats[-1])  # it follows the robot
    with pytest.raises(ValueError):
        PolicyController(bundle, SimBackend("a1"), z=np.zeros(8), estimator=estimator)


def test_export_ships_the_estimator_with_its_history_layout(tiny_bundle_with_estimator,
                                                            tmp_path):
    bundle = PolicyBundle.load(tiny_bundle_with_estimator)
    report = export_bundle(bundle, tmp_path, samples=32)
    assert report["parity_ok"], report
    assert report["estimator_onnx_max_abs_diff"] < 1e-5
    deploy = json.loads((tmp_path / "deploy.json").read_text())
    entry = deploy["z_estimator"]
    assert entry["file"] == "estimator.onnx" and (tmp_path / "estimator.onnx").is_file()
    assert entry["input"]["shape"] == [TINY_ESTIMATOR["window"], 28]
    assert entry["rate_hz"] == pytest.approx(deploy["policy_hz"])
    offsets = [b["offset"] for b in entry["input"]["frame"]]
    assert offsets == [deploy["observation"]["layout"][i]["offset"] for i in range(4)]
    actor_meta = {p.key: json.loads(p.value)
                  for p in onnx.load(str(tmp_path / "actor.onnx")).metadata_props}
    assert actor_meta == deploy


def _quadmimic(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "quadmimic", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO,
                          env={**os.environ, "COLUMNS": "200"})


def test_quadmimic_estimator_trains_into_the_bundle_and_eval_uses_it(tiny_policy, tmp_path):
    from sim_training.evaluate import OWN_EPISODES, own_evaluation

    bundle = write_bundle(tiny_policy, tmp_path / "bundle")
    own_evaluation(bundle, episodes=2)  # as `quadmimic bundle` ships it: at the prior
    assert json.loads((bundle / "eval.json").read_text())["z_source"] == "prior"
    proc = _quadmimic("eval", str(bundle), "--episodes", "1")
    assert proc.returncode == 0, proc.stderr
    assert "z: prior (z = 0); the default: the bundle carries no estimator" in proc.stderr
    proc = _quadmimic("estimator", str(bundle), "--iterations", "1", "--episodes", "3",
                      "--episode-seconds", "0.5", "--validation-episodes", "1", "--window",
                      "5")
    assert proc.returncode == 0, proc.stderr
    for name in ("estimator.pt", "estimator.json", "estimator.png"):
        assert (bundle / name).is_file(), name
    meta = json.loads((bundle / "estimator.json").read_text())
    val = meta["validation"]
    said = " ".join(proc.stderr.split())
    assert f"error {val['mse']:.3f} against the prior's {val['prior_mse']:.3f}" in said
    assert [r["iteration"] for r in meta["training"]["iterations"]] == [0]
    # The bundle's own evaluation is made again, acting with its estimate, and `eval`
    # reproduces it.
    own = json.loads((bundle / "eval.json").read_text())
    assert own["z_source"] == "estimate" and own["episodes"] == OWN_EPISODES
    proc = _quadmimic("eval", str(bundle), "--episodes", str(OWN_EPISODES), "--json",
                      str(tmp_path / "again.json"))
    assert proc.returncode == 0, proc.stderr
    again = json.loads((tmp_path / "again.json").read_text())
    assert [e["return"] for e in again["per_episode"]] == [e["return"] for e in
                                                            own["per_episode"]]
    proc = _quadmimic("eval", str(bundle), "--episodes", "1", "--json",
                      str(tmp_path / "e.json"))
    assert proc.returncode == 0, proc.stderr
    assert "z: estimate (online ẑ from the bundle's estimator, 5 frames" in proc.stderr
    assert json.loads((tmp_path / "e.json").read_text())["z_source"] == "estimate"
