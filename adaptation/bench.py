"""The adaptation benchmark (``quadmimic bench adapt``): the transfer protocol on one robot.

:func:`bench_adapt` is :func:`adaptation.transfer.bench_transfer` for one latent policy and one
held-out robot given as a dynamics file (the "real" robot, PyBullet by default): the same
figures (prior, estimate, adapted_N after budgets of N search rollouts, oracle, robust),
scored the same way, on fresh evaluation rollouts whose seeds the search never used, beside
the same policy on the nominal robot of that engine.
"""

from __future__ import annotations

from pathlib import Path

from adaptation.rollouts import TransferConfig
from adaptation.transfer import TransferResult, bench_transfer
from adaptation.transfer_robots import TransferRobot
from sim_training.dynamics import dynamics_from


def bench_adapt(policy: Path, dynamics: Path, robust: Path | None = None,
                config: TransferConfig | None = None, engine: str = "sim",
                progress: object = None) -> TransferResult:
    """The transfer benchmark of ``policy`` on the robot of ``dynamics`` and at nominal.

    Args:
        policy: Latent policy (bundle or run).
        dynamics: Held-out dynamics JSON (the "real" robot).
        robust: Robust baseline policy (no encoder) scored beside it, or None.
        config: Seeds, rollout length, evaluation rollouts, search budgets.
        engine: ``sim`` (PyBullet) or ``mujoco``.
        progress: As :func:`~adaptation.transfer.bench_transfer`'s.

    Returns:
        The :class:`~adaptation.transfer.TransferResult` (robots ``nominal`` and the dynamics
        file's stem).
    """
    robots = [TransferRobot("nominal", engine, dynamics_from(None),
                            note=f"{engine}, nominal dynamics"),
              TransferRobot(Path(dynamics).stem, engine, dynamics_from(dynamics),
                            note=f"{engine}, {dynamics}", held_out=True)]
    partners = {Path(policy).name: Path(robust)} if robust is not None else None
    return bench_transfer([policy], robots, config, partners=partners,
                          progress=progress)  # type: ignore[arg-type]


__all__ = ["bench_adapt"]
