"""Command-line interface of the adaptation stage: ``quadmimic adapt``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from motion_retarget.fileio import atomic_write_text
from robot_deploy.cli import INTERFACE_HELP, ROBOT_HELP, ROBOT_IP_HELP


def returns_png(returns: list[float], out: Path, per_update: int) -> Path:
    """Plot return per rollout (and the AWR update boundaries) to a PNG, headless."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from motion_retarget.fileio import atomic_write

    fig, ax = plt.subplots(figsize=(6, 3.4), dpi=100)
    ax.plot(range(1, len(returns) + 1), returns, "o-", color="tab:blue", ms=3)
    best = list(__import__("itertools").accumulate(returns, max))
    ax.plot(range(1, len(returns) + 1), best, "--", color="tab:orange", label="best so far")
    for k in range(per_update, len(returns), per_update):
        ax.axvline(k + 0.5, color="0.85", lw=0.8)
    ax.set_xlabel("rollout")
    ax.set_ylabel("return (mean step reward)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    try:
        return atomic_write(out, lambda f: fig.savefig(f, format="png"))
    finally:
        plt.close(fig)


def adapt_command(
    policy: Annotated[Path, typer.Argument(help="Frozen policy (bundle or run dir).")],
    session: Annotated[Path, typer.Option(help="Session dir (an existing one resumes).")],
    backend: Annotated[str, typer.Option(help="Robot backend: sim (PyBullet), mujoco, "
                                         "go1-udp, go2-dds.")] = "sim",
    robot: Annotated[str | None, typer.Option(help=ROBOT_HELP)] = None,
    interface: Annotated[str, typer.Option(help=INTERFACE_HELP)] = "lo",
    robot_ip: Annotated[str, typer.Option(help=ROBOT_IP_HELP)] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="go1-udp: robot UDP port.")] = None,
    local_port: Annotated[int, typer.Option(help="go1-udp: local UDP port.")] = 8080,
    domain: Annotated[int, typer.Option(help="go2-dds: DDS domain id.")] = 0,
    control_port: Annotated[int | None, typer.Option(help="Emulator control port: resets "
                                                     "the robot between rollouts.")] = None,
    dynamics: Annotated[Path | None, typer.Option(help="Dynamics JSON of the robot.")] = None,
    motion: Annotated[Path | None, typer.Option(help="Motion (default: the policy's).")] = None,
    rollouts: Annotated[int, typer.Option(help="Rollouts in total.")] = 20,
    rollout_seconds: Annotated[float, typer.Option(help="Seconds per rollout.")] = 4.0,
    per_update: Annotated[int, typer.Option(help="Rollouts per AWR update.")] = 4,
    out: Annotated[Path | None, typer.Option(help="Adapted bundle to write at the end.")] = None,
    gif: Annotated[Path | None, typer.Option(help="GIF of the adapted policy.")] = None,
) -> None:
    """Search the latent z of a frozen policy on a robot by AWR (resumable session)."""
    from motion_retarget.cli import console

    try:
        summary = adapt_with_progress(policy, session, backend=backend, robot=robot,
                                      interface=interface, robot_ip=robot_ip, port=port,
                                      local_port=local_port, domain=domain,
                                      control_port=control_port, dynamics=dynamics,
                                      motion=motion, rollouts=rollouts,
                                      rollout_seconds=rollout_seconds, per_update=per_update,
                                      out=out, gif=gif)
    except KeyboardInterrupt:  # SIGTERM or Ctrl-C: the robot is damped, the cut rollout dropped
        console.print(f"stopped; the recorded rollouts are kept: resume with "
                      f"quadmimic adapt {policy} --session {session}", highlight=False)
        raise typer.Exit(130) from None
    console.print_json(data={k: v for k, v in summary.items() if k != "returns"})


def adapt_with_progress(policy: Path, session: Path, **kwargs: Any) -> dict[str, Any]:
    """:func:`run_adaptation` with a progress bar showing each rollout's return."""
    from motion_retarget.cli import progress_bar

    with progress_bar() as bar:
        task = bar.add_task("adapt", total=kwargs.get("rollouts", 20), rate="")

        def on_rollout(rec: dict, total: int) -> None:
            bar.update(task, completed=rec["index"] + 1, total=total,
                       rate=f"return {rec['return']:.3f} ({rec['stopped_by']})")

        return run_adaptation(policy, session, progress=on_rollout, **kwargs)


def run_adaptation(policy: Path, session: Path, *, backend: str = "sim",
                   robot: str | None = None, interface: str = "lo",
                   robot_ip: str = "127.0.0.1",
                   port: int | None = None, local_port: int = 8080, domain: int = 0,
                   control_port: int | None = None, dynamics: Path | None = None,
                   motion: Path | None = None, rollouts: int = 20,
                   rollout_seconds: float = 4.0, per_update: int = 4,
                   out: Path | None = None, gif: Path | None = None,
                   progress: Callable[[dict, int], None] | None = None) -> dict[str, Any]:
    """What ``quadmimic adapt`` does, returning its summary (see :func:`adapt_command`).

    ``robot`` is the robot the backend drives (None: the one its protocol serves, the
    policy's on the sim; see :func:`robot_deploy.cli.backend_robot`): it must be the
    policy's, checked before anything connects. ``interface`` faces the robot (``lo``: an
    emulator); ``robot_ip`` is the go1-udp robot's address.

    Returns:
        ``rollouts``, ``best_return``, ``best_z``, ``mean``, ``std``, ``returns`` (per
        rollout), ``stopped_by`` (per rollout), and ``adapted_bundle`` when ``out`` is given.
    """
    from adaptation.adapt import AdaptationSession, AdaptConfig
    from motion_retarget.errors import QuadmimicError
    from robot_deploy.backends import SIMULATED, make_backend
    from robot_deploy.cli import backend_robot

    if session.exists() and not session.is_dir():
        raise QuadmimicError(f"{session}: is a file, not an adaptation session directory")
    name = backend_robot(backend, _robot_of(policy), robot)
    driven: Any = make_backend(backend, name, dynamics, realtime=False, robot_ip=robot_ip,
                              port=port, local_port=local_port, domain=domain,
                              interface=interface)
    driven.connect()
    reset = getattr(driven, "reset_pose", None)
    if control_port is not None:
        from robot_deploy.emulator.core import control_request

        def reset() -> None:
            control_request(control_port, {"op": "reset"})
    config = AdaptConfig(rollouts=rollouts, rollout_seconds=rollout_seconds,
                         rollouts_per_update=per_update)
    sess = AdaptationSession(policy, driven, session, config, reset_robot=reset, motion=motion,
                             realtime=backend not in SIMULATED)
    try:
        state = sess.run(progress=None if progress is None else (
            lambda rec: progress(rec, sess.config.rollouts)))
    finally:
        driven.close()
    returns_png(state.returns, session / "returns.png", sess.config.rollouts_per_update)
    summary = {"rollouts": len(state.returns), "best_return": state.best_return,
               "best_z": None if state.best_z is None else state.best_z.tolist(),
               "mean": state.mean.tolist(), "std": state.std.tolist(),
               "returns": state.returns,
               "stopped_by": [rec["stopped_by"] for rec in sess.records]}
    atomic_write_text(session / "summary.json", json.dumps(summary, indent=2) + "\n")
    if out is not None and state.best_z is not None:
        from sim_training.bundle import write_bundle

        write_bundle(policy, out, z=state.best_z, extra={"adapted_from_session": str(session)})
        summary["adapted_bundle"] = str(out)
    if gif is not None and state.best_z is not None:
        from sim_training.bundle import PolicyBundle
        from sim_training.evaluate import evaluate

        evaluate(PolicyBundle.load(policy), dynamics=dynamics, z=state.best_z, episodes=1,
                 gif=gif)
    return summary


def _robot_of(policy: Path) -> str:
    from sim_training.bundle import PolicyBundle

    return PolicyBundle.load(policy).robot
