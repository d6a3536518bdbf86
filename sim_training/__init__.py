"""Stage 2: imitation training in a domain-randomised PyBullet env.

Importing this package registers the env ``quadmimic/Imitation-v0`` with gymnasium.
"""

import gymnasium

ENV_ID = "quadmimic/Imitation-v0"
"""The gymnasium id of :class:`sim_training.env.ImitationEnv`."""

if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point="sim_training.env:ImitationEnv",
                       disable_env_checker=True)
