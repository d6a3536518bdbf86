"""Stage 2: imitation training in a domain-randomised PyBullet env.

Importing this package registers the env ``quadmimic/Imitation-v0`` with gymnasium.
"""

import gymnasium

ENV_ID = "quadmimic/Imitation-v0"
"""The gymnasium id of :class:`sim_training.env.ImitationEnv`."""

__all__ = ["ENV_ID", "actions", "bench", "bundle", "cli", "collect", "config", "distributed",
           "dynamics", "env", "estimator", "estimator_training", "evaluate", "export", "noise",
           "observations", "plots", "policy", "ppo", "randomization", "rates", "reference",
           "rewards", "robot_sim", "skills", "train", "vec_env"]

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="sim_training.env:ImitationEnv",
                       disable_env_checker=True)
