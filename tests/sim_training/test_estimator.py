"""The online z estimator: DAgger training on a shipped bundle, files, runtime window, ONNX."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch as th

from quadmimic.core.errors import BundleError
from sim_training.bundle import PolicyBundle
from sim_training.estimator import (
    META,
    WEIGHTS,
    EstimatorConfig,
    OnlineEstimator,
    ZEstimator,
    build_net,
    export_estimator,
    frame_layout,
    load_estimator,
    save_estimator,
)
from sim_training.estimator_training import (
    WindowData,
    evaluate_estimator,
    run_episode,
    train_estimator,
    training_env,
)
from sim_training.observations import PROPRIO_SIZE, observation_layout

REPO = Path(__file__).resolve().parents[2]
BUNDLE = REPO / "data" / "policies" / "go2_trot"

TINY = EstimatorConfig(window=15, hidden=(64,), iterations=2, episodes_per_iteration=20,
                       episode_seconds=1.5, validation_episodes=6, epochs=20, seed=0)
"""A tiny DAgger budget: 40 episodes of 1.5 s (about 1800 env steps, 7 CPU-s), 6 held out.

Validation error / prior-mean error measured with it on seeds 0, 1, 2: 0.67 / 1.16,
0.50 / 0.80, 0.62 / 0.83."""


@pytest.fixture(scope="module")
def bundle() -> PolicyBundle:
    return PolicyBundle.load(BUNDLE)


@pytest.fixture(scope="module")
def trained(bundle) -> ZEstimator:
    return train_estimator(bundle, TINY)


@pytest.fixture(scope="module")
def saved(trained, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("estimator")
    for name in ("policy.pt",):  # the fingerprint check reads the bundle's policy.pt
        shutil.copyfile(BUNDLE / name, folder / name)
    return save_estimator(trained, folder)


def test_tiny_dagger_training_beats_the_prior_on_held_out_episodes(trained):
    val = trained.meta["validation"]
    assert val["episodes"] == TINY.validation_episodes
    assert val["samples"] > 0
    # The estimator, acting on its own ẑ on unseen dynamics, is closer to the oracle z than
    # the prior mean (zeros) the policy would otherwise get.
    assert val["mse"] < val["prior_mse"], val
    training = trained.meta["training"]
    rows = training["iterations"]
    assert [r["acting_with"] for r in rows] == ["prior", "estimate"]
    assert rows[1]["acting_mse"] is not None  # iteration 1 acted on ẑ, labelled by the truth
    assert training["samples"] + training["holdout_samples"] == rows[-1]["samples_aggregated"]
    assert training["wall_seconds"] > 0 and training["cpu_seconds"] > 0
    assert trained.meta["policy_sha256"] is not None
    assert trained.meta["update_microseconds"]["p50_us"] > 0


def test_history_layout_is_the_observations_newest_proprio_block(trained):
    history = trained.meta["history"]
    frame = history["input"]["frame"]
    assert [b["name"] for b in frame] == ["roll_pitch", "roll_pitch_rate", "joints",
                                          "previous_action"]
    assert frame == frame_layout()
    assert sum(b["size"] for b in frame) == PROPRIO_SIZE
    assert history["input"]["shape"] == [TINY.window, PROPRIO_SIZE]
    assert observation_layout(3, (1,))[:4] == [(f"proprio[-0].{b['name']}", b["size"],
                                                 b["unit"]) for b in frame]
    assert history["rate_hz"] == pytest.approx(30.0, rel=0.02)


def test_save_load_round_trip_is_bit_identical(trained, saved):
    loaded = load_estimator(saved, z_dim=trained.z_dim)
    a, b = trained.net.state_dict(), loaded.net.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert th.equal(a[key], b[key]), key
    assert loaded.config == trained.config
    rng = np.random.default_rng(1)
    windows = rng.standard_normal((16, TINY.window, PROPRIO_SIZE))
    assert np.array_equal(loaded.predict(windows), trained.predict(windows))
    again = json.loads((saved / META).read_text())
    assert again["validation"] == trained.meta["validation"]
    assert again["history"] == trained.meta["history"]


def test_corrupt_weights_give_one_located_line(saved, tmp_path):
    folder = tmp_path / "corrupt"
    shutil.copytree(saved, folder)
    data = (folder / WEIGHTS).read_bytes()
    for content in (data[: len(data) // 2], b"not a torch file", b""):
        (folder / WEIGHTS).write_bytes(content)
        with pytest.raises(BundleError) as err:
            load_estimator(folder)
        text = str(err.value)
        assert "\n" not in text
        assert text.startswith(f"{folder / WEIGHTS}: ")


def test_weights_of_another_shape_and_a_bad_json_are_located(saved, tmp_path):
    folder = tmp_path / "mismatch"
    shutil.copytree(saved, folder)
    meta = json.loads((folder / META).read_text())
    meta["config"]["hidden"] = [32]
    (folder / META).write_text(json.dumps(meta, indent=2))
    with pytest.raises(BundleError, match="not fitting") as err:
        load_estimator(folder)
    assert str(err.value).startswith(str(folder / WEIGHTS))
    text = (saved / META).read_text().splitlines()
    text[3] = text[3] + " oops"
    (folder / META).write_text("\n".join(text))
    with pytest.raises(BundleError) as err:
        load_estimator(folder)
    assert err.value.path == folder / META and err.value.line == 4
    (folder / META).unlink()
    with pytest.raises(BundleError, match=r"estimator\.json is missing"):
        load_estimator(folder)


def test_a_retrained_policy_or_another_latent_size_is_refused(saved, tmp_path):
    folder = tmp_path / "other_policy"
    shutil.copytree(saved, folder)
    (folder / "policy.pt").write_bytes(b"another policy")
    with pytest.raises(BundleError, match=r"another policy\.pt"):
        load_estimator(folder)
    load_estimator(folder, check_policy=False)
    with pytest.raises(BundleError, match="z_dim 8, the policy takes 4"):
        load_estimator(saved, z_dim=4)


def test_runtime_window_resets_fills_and_slides(trained):
    run = OnlineEstimator(trained)
    assert run.frames_seen == 0 and np.array_equal(run.z_hat, np.zeros(trained.z_dim))
    rng = np.random.default_rng(0)
    frames = rng.standard_normal((TINY.window + 5, PROPRIO_SIZE))
    z = run.update(frames[0])
    # The first frame fills the whole window.
    assert np.array_equal(run.history, np.repeat(frames[:1], TINY.window, axis=0))
    np.testing.assert_allclose(z, trained.predict(run.history[None])[0], atol=1e-5)
    for i in range(1, len(frames)):
        z = run.update(frames[i])
        expect = np.stack([frames[max(i - k, 0)] for k in range(TINY.window)])
        assert np.array_equal(run.history, expect)  # newest first, oldest dropped
        np.testing.assert_allclose(z, trained.predict(expect[None])[0], atol=1e-5)
    assert run.frames_seen == len(frames)
    # The sensed part and the previous action separately are the same frame.
    run.reset()
    assert run.frames_seen == 0 and not run.z_hat.any()
    split = run.update(frames[3][:16], frames[3][16:])
    run.reset()
    np.testing.assert_array_equal(split, run.update(frames[3]))
    before = run.history
    for bad in (np.zeros(27), np.full(PROPRIO_SIZE, np.nan)):
        with pytest.raises(ValueError):
            run.update(bad)
    with pytest.raises(ValueError):
        run.update(np.zeros(16), np.zeros(11))
    assert np.array_equal(run.history, before)


def test_window_data_repeats_the_first_frame_like_the_runtime(trained, bundle):
    env = training_env(bundle, 5)
    try:
        run = OnlineEstimator(trained)
        eps = [run_episode(bundle, env, "estimate", runtime=run, seed=s, max_steps=20)
               for s in (11, 12)]
    finally:
        env.close()
    data = WindowData(eps, TINY.window)
    assert len(data) == sum(len(e.frames) for e in eps)
    z_hat = np.concatenate([e.z_hat for e in eps])
    # The windows the training gathers give the ẑ the runtime computed step by step.
    np.testing.assert_allclose(trained.predict(data.windows(np.arange(len(data)))), z_hat,
                               atol=1e-5)
    # Each frame recorded is the observation's newest proprioception block.
    assert eps[0].frames.shape == (eps[0].steps + 1, PROPRIO_SIZE)
    assert np.all(eps[0].z_true == eps[0].z_true[0])  # one draw of the dynamics per episode


def test_onnx_export_matches_torch_and_the_numpy_runtime(trained, tmp_path):
    report = export_estimator(trained, tmp_path, samples=64)
    assert report["parity_ok"], report
    model = onnx.load(str(tmp_path / "estimator.onnx"))
    meta = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert meta["z_estimator"] == trained.deploy_entry()
    assert meta["z_estimator"]["input"]["shape"] == [TINY.window, PROPRIO_SIZE]


def test_evaluation_compares_prior_estimate_and_oracle(bundle, trained):
    dyn = {"base_mass_scale": 1.2, "latency_s": 0.03}
    out = evaluate_estimator(bundle, trained, dyn, episodes=1, episode_seconds=1.0)
    np.testing.assert_allclose(out["oracle_z"], bundle.encode(dyn)[0], atol=1e-4)
    for mode in ("prior", "estimate", "oracle"):
        assert out[mode]["episodes"] == 1
        assert np.isfinite(out[mode]["mean_return"])
        steps = round(1.0 / bundle.config.env.policy_dt)
        assert out[mode]["z_error"]["samples"] == steps + 1 or out[mode]["fall_rate"]
    assert "estimate_gap_recovered" in out


def test_a_robust_bundle_has_no_latent_to_estimate():
    robust = PolicyBundle.load(REPO / "data" / "policies" / "go2_trot_robust")
    with pytest.raises(BundleError, match="no latent"):
        train_estimator(robust, TINY)


def test_untrained_network_takes_the_bundles_statistics(bundle):
    net = build_net(TINY, bundle.z_dim, bundle.obs_mean, bundle.obs_var, bundle.epsilon,
                    bundle.clip_obs)
    np.testing.assert_allclose(net.frame_mean.numpy(), bundle.obs_mean[:PROPRIO_SIZE],
                               rtol=1e-6)
    np.testing.assert_allclose(net.frame_std.numpy() ** 2,
                               bundle.obs_var[:PROPRIO_SIZE] + bundle.epsilon, rtol=1e-5)
    with pytest.raises(ValueError):
        EstimatorConfig(window=0)


def test_z_choice_of_the_cli(saved, tmp_path):
    from quadmimic.core.errors import ConfigError
    from sim_training.estimator import resolve_z

    choice = resolve_z(None, saved, 8)  # a bundle with an estimator: estimate by default
    assert choice.kind == "estimate" and choice.estimator is not None
    assert resolve_z(None, tmp_path, 8).kind == "prior"
    assert not resolve_z("prior", saved, 8).z.any()
    values = resolve_z("0.5,-1,0,0,0,0,0,2", saved, 8)
    assert values.kind == "fixed" and values.z[7] == 2.0
    (tmp_path / "z.json").write_text(json.dumps({"z": [0.1] * 8}))
    assert resolve_z(None, tmp_path, 8).z.tolist() == [0.1] * 8
    with pytest.raises(BundleError, match="carries no estimator"):
        resolve_z("estimate", tmp_path, 8)
    with pytest.raises(ConfigError, match="8 finite numbers"):
        resolve_z("1,2,3", saved, 8)
    assert resolve_z(None, tmp_path, 8).note  # the default says why it was chosen
    with pytest.raises(ConfigError, match="comma-separated"):
        resolve_z("maybe", saved, 8)
    (tmp_path / "bad.json").write_text('{"z": [1,\n 2,, 3]}')
    with pytest.raises(ConfigError) as err:
        resolve_z(str(tmp_path / "bad.json"), saved, 8)
    assert err.value.line == 2
