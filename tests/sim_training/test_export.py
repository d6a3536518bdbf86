"""The exported artefacts run from deploy.json alone, as a ROS 2 or C++ stack would run them."""

from __future__ import annotations

import itertools
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from quadmimic.core.robots import get_robot
from sim_training.actions import ActionToTarget
from sim_training.bundle import PolicyBundle
from sim_training.env import ImitationEnv
from sim_training.export import export_bundle


@pytest.fixture(scope="module")
def exported(tiny_policy, tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    report = export_bundle(PolicyBundle.load(tiny_policy), out)
    assert report["parity_ok"], report
    return out


def test_deploy_json_and_onnx_metadata_agree(exported):
    deploy = json.loads((exported / "deploy.json").read_text())
    model = onnx.load(str(exported / "actor.onnx"))
    meta = {p.key: json.loads(p.value) for p in model.metadata_props}
    assert meta == deploy
    layout = deploy["observation"]["layout"]
    offsets = [b["offset"] for b in layout]
    assert offsets[0] == 0
    assert all(b["offset"] + b["size"] == n["offset"]
               for b, n in itertools.pairwise(layout))
    assert layout[-1]["offset"] + layout[-1]["size"] == deploy["observation"]["size"] == 156
    assert len(deploy["joint_names"]) == len(deploy["kp"]) == len(deploy["default_pose"]) == 12


def test_actions_from_deploy_json_match_the_env(exported, tiny_policy):
    """Targets computed only from deploy.json + actor.onnx equal the env's own targets."""
    deploy = json.loads((exported / "deploy.json").read_text())
    sess = ort.InferenceSession(str(exported / "actor.onnx"), providers=["CPUExecutionProvider"])
    bundle = PolicyBundle.load(tiny_policy)
    env = ImitationEnv(exported / deploy["files"]["motion"], robot=deploy["robot"],
                       randomize=False, config=bundle.config.env)
    obs, _ = env.reset(seed=3)
    act = deploy["action"]
    alpha = 1.0 - np.exp(-2 * np.pi * act["filter_hz"] / deploy["policy_hz"])
    lower, upper = np.array(deploy["joint_lower"]), np.array(deploy["joint_upper"])
    z = np.array(deploy["latent"]["z"], np.float32)[None]
    filtered = np.zeros(12)
    cfg = bundle.config.env
    theirs_rule = ActionToTarget(get_robot(deploy["robot"]), cfg.action_mode, cfg.action_scale,
                                 cfg.action_filter_hz, cfg.policy_dt)
    for _ in range(20):
        raw = sess.run(None, {"obs": obs["obs"][None], "z": z})[0][0].astype(np.float64)
        np.testing.assert_allclose(raw, bundle.act(obs["obs"], z=z[0]), atol=1e-5)
        filtered += alpha * (np.clip(raw, -1, 1) - filtered)
        ref_next = env.ref.state(env.t + 1.0 / deploy["policy_hz"]).joints
        mine = np.clip(ref_next + act["scale_rad"] * filtered, lower, upper)
        np.testing.assert_allclose(mine, theirs_rule(raw, ref_next), atol=1e-6)
        obs, _, terminated, truncated, _ = env.step(raw)
        if terminated or truncated:
            break
    env.close()
