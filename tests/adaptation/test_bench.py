"""``quadmimic bench adapt``: the transfer protocol on one held-out robot, real PyBullet runs."""

from __future__ import annotations

from adaptation.bench import bench_adapt
from adaptation.rollouts import TransferConfig
from tests.conftest import REPO


def test_bench_adapt_is_the_transfer_protocol_on_one_robot(tiny_policy):
    config = TransferConfig(seeds=(0,), rollout_seconds=0.3, ramp_seconds=0.1,
                            eval_rollouts=1, adapt_checkpoints=(1, 5))
    result = bench_adapt(tiny_policy, REPO / "data" / "dynamics" / "held_out_a1.json",
                         config=config)
    got = {(r.robot, r.figure) for r in result.rows}
    assert got == {("nominal", "prior"), ("held_out_a1", "prior"), ("held_out_a1", "oracle"),
                   ("held_out_a1", "adapted_1"), ("held_out_a1", "adapted_5")}
    rows = {(r.robot, r.figure): r for r in result.rows}
    adapted = rows[("held_out_a1", "adapted_5")].per_seed[0]
    prior = rows[("held_out_a1", "prior")].per_seed[0]
    assert adapted["eval_seeds"] == prior["eval_seeds"]  # paired with the prior
    assert not set(adapted["search_seeds"]) & set(adapted["eval_seeds"])  # fresh rollouts
    assert len(adapted["z"]) == 8 and adapted["search_rollouts"] == 5
    assert result.robots["held_out_a1"]["held_out"]
    assert "| `run` | held_out_a1 |" in result.markdown
