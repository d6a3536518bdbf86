"""Training, evaluation, deployment and adaptation read one and the same reference.

Each consumer is built the way its module builds it (the training vec env, the evaluation
env, :class:`PolicyController`, an adaptation session's and ``latent_return``'s controllers),
and their ``ReferenceMotion.state`` must agree bit for bit at frames, between frames and
across loop boundaries.
"""

from __future__ import annotations

import numpy as np
import pytest

import adaptation.adapt as adapt_mod
from adaptation.adapt import AdaptationSession, latent_return
from adaptation.config import AdaptConfig
from robot_deploy.backends.sim import SimBackend
from robot_deploy.controller import PolicyController
from sim_training.bundle import PolicyBundle
from sim_training.env import ImitationEnv
from sim_training.reference import ReferenceMotion
from sim_training.vec_env import make_vec_env

FIELDS = ("root_pos", "root_rot", "joints", "joint_vel", "root_lin_vel", "root_ang_vel",
          "feet_local")


class _Built(Exception):
    """Raised by the capturing controller instead of running a rollout."""


def _adaptation_refs(bundle_dir, bundle, backend, tmp_path, monkeypatch) -> list[ReferenceMotion]:
    """The references of the controllers adaptation builds (session rollout, latent_return)."""
    built: list[PolicyController] = []

    class Capturing(PolicyController):
        def run(self, *args, **kwargs):
            built.append(self)
            raise _Built

    monkeypatch.setattr(adapt_mod, "PolicyController", Capturing)
    session = AdaptationSession(bundle_dir, backend, tmp_path / "session",
                                AdaptConfig(rollouts=1))
    with pytest.raises(_Built):
        session.rollout(session.plan(0, session.search_state()))
    with pytest.raises(_Built):
        latent_return(bundle, backend, None, rollouts=1)
    assert len(built) == 2
    return [c.ref for c in built]


def test_training_deployment_and_adaptation_read_the_same_reference(tiny_policy, tmp_path,
                                                                    monkeypatch):
    bundle = PolicyBundle.load(tiny_policy)
    cfg = bundle.config
    venv = make_vec_env(cfg.motion, robot=cfg.robot, num_envs=1, num_workers=0,
                        randomize=True, config=cfg.env)  # as sim_training.train does
    evaluation = ImitationEnv(bundle.motion_path, robot=bundle.robot, randomize=False,
                              config=cfg.env)  # as sim_training.evaluate does
    backend = SimBackend(bundle.robot)
    refs = {
        "training": venv.envs[0].unwrapped.ref,
        "evaluation": evaluation.ref,
        "deployment": PolicyController(bundle, backend).ref,
    }
    for i, ref in enumerate(_adaptation_refs(tiny_policy, bundle, backend, tmp_path,
                                             monkeypatch)):
        refs[f"adaptation{i}"] = ref
    train = refs["training"]
    assert train.wrap and train.motion.enable_cycle_offset_position
    dt, duration = train.dt, train.duration
    k = np.arange(train.num_frames)
    times = [c * duration + x for c in (0, 1, 4) for x in np.r_[k, k + 0.5, k + 0.3] * dt]
    times += [c * duration + e for c in (1, 2, 7) for e in (-1e-9, 0.0, 1e-9)]
    times += list(np.arange(200) * cfg.env.policy_dt)  # 200 policy steps from 0
    for name, ref in refs.items():
        if name == "training":
            continue
        assert ref is not train and ref.motion == train.motion, name
        assert (ref.dt, ref.duration, ref.wrap) == (train.dt, train.duration, train.wrap)
        for t in times:
            a, b = train.state(t), ref.state(t)
            assert ref.cycle_and_phase(t) == train.cycle_and_phase(t)
            for field in FIELDS:
                assert np.array_equal(getattr(a, field), getattr(b, field)), (name, t, field)
    venv.close()
    evaluation.close()
    backend.close()
