"""``quadmimic demo``: the whole pipeline on the bundled default clip, writing ``runs/demo/``.

1. Retarget the default dog trot clip onto the Go1 (motion, quality report, preview GIF).
2. Evaluate the shipped Go1 trot for real robots' differences (``go1_trot_real``) in
   simulation (PyBullet, the training engine), at nominal dynamics and on a held-out "real"
   robot (``data/dynamics/held_out_go1.json``: a payload, weaker motors, 45 ms of latency, a
   slippery floor; fixed before any of this was measured and never trained on; within that
   policy's training ranges, outside those of ``go1_trot``) with the prior z and, when the
   bundle carries one, its online estimator's ẑ.
3. Start the "real" robot: MuJoCo (the second engine) with the held-out dynamics behind the
   Go1 UDP wire protocol on loopback, and adapt the policy's latent on it through the
   ``go1-udp`` backend (the official ``unitree_legged_sdk`` client) by the safe search
   (:mod:`adaptation.adapt`: from the estimate, paired validations, the incumbent as the
   result); then score prior, estimate and adapted on fresh emulator rollouts, and the
   adapted z in the PyBullet held-out eval.
4. Deploy the adapted policy on that robot for 10 s through the safety layer.
5. Write ``report.md`` linking every figure and picture, with one sentence on what the
   estimate and the adaptation changed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from quadmimic.core.options import count, output_dir, positive
from quadmimic.paths import DATA, DEFAULT_CLIPS, RUNS

STAGES = 5


def demo_command(
    out: Annotated[Path, typer.Option(help="Output folder.", callback=output_dir)
                   ] = RUNS / "demo",
    policy: Annotated[Path, typer.Option(help="Policy bundle to evaluate, adapt and "
                                         "deploy.")] = DATA / "policies" / "go1_trot_real",
    dynamics: Annotated[Path, typer.Option(help="Dynamics of the emulated 'real' "
                                           "robot.")] = DATA / "dynamics" / "held_out_go1.json",
    physics: Annotated[str, typer.Option(help="Engine of the emulated 'real' robot: mujoco "
                                         "or pybullet.")] = "mujoco",
    rollouts: Annotated[int, typer.Option(help="Adaptation rollout budget.",
                                          callback=count)] = 9,
    rollout_seconds: Annotated[float, typer.Option(help="Seconds per rollout.",
                                                   callback=positive)] = 3.0,
    deploy_seconds: Annotated[float, typer.Option(help="Deploy run length (s).",
                                                  callback=positive)] = 10.0,
    episodes: Annotated[int, typer.Option(help="Simulated evaluation episodes per z.",
                                          callback=count)] = 3,
    emulator_rollouts: Annotated[int, typer.Option(help="Fresh emulator rollouts per z after "
                                                   "the search.", callback=count)] = 5,
) -> None:
    """Run the pipeline: retarget, evaluate, adapt on the emulator, deploy; write a report."""
    from motion_retarget.cli import print_report
    from motion_retarget.job import retarget_file
    from quadmimic.core.console import console
    from robot_deploy.emulator.core import check_physics
    from sim_training.bundle import PolicyBundle
    from sim_training.dynamics import dynamics_from

    bundle = PolicyBundle.load(policy)  # fail before any work if the policy is missing
    dynamics_from(dynamics)  # and if the dynamics file is bad
    check_physics(physics)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    stem = f"{bundle.robot}_trot"
    figures: dict[str, Any] = {"policy": str(policy), "held_out_dynamics": str(dynamics),
                               "robot": bundle.robot, "physics": physics, "stem": stem}

    clip = DEFAULT_CLIPS / "dog_trot_joint_pos.txt"
    console.rule(f"[bold]1/{STAGES} retarget {clip.name} → {bundle.robot}")
    _, rep = retarget_file(clip, bundle.robot, out / f"{stem}.txt",
                           report=out / f"{stem}_report.json",
                           preview=out / f"{stem}_preview.gif")
    print_report(rep)
    figures["retarget"] = rep["locomotion"]

    console.rule(f"[bold]2/{STAGES} evaluate {policy.name} in simulation")
    figures["eval"] = _evaluate(bundle, dynamics, out, episodes)

    console.rule(f"[bold]3/{STAGES} adapt on the go1-udp emulator ({physics}, held-out "
                 "dynamics)")
    from robot_deploy.emulator.process import EmulatorProcess

    with EmulatorProcess(bundle.robot, dynamics, log=out / "emulator.log",
                         physics=physics) as emulator:
        adapted = out / f"{stem}_adapted"
        figures["adapt"] = _adapt(policy, emulator, dynamics, out, rollouts, rollout_seconds,
                                  adapted)
        adapted_bundle = PolicyBundle.load(adapted)
        ev = figures["eval"]
        if adapted_bundle.z is None and "held_out_estimate" in ev:  # the estimate was kept
            ev["held_out_adapted"] = {**ev["held_out_estimate"], "same_as": "estimate"}
        elif adapted_bundle.z is not None and not adapted_bundle.z.any():  # the prior won
            ev["held_out_adapted"] = {**ev["held_out_prior"], "same_as": "prior"}
        else:
            ev["held_out_adapted"] = _eval_row(adapted_bundle, dynamics, adapted_bundle.z,
                                               episodes, out / "eval_held_out_adapted")
        figures["emulator"] = _emulator_eval(bundle, adapted_bundle, emulator,
                                             emulator_rollouts, rollout_seconds)

        console.rule(f"[bold]4/{STAGES} deploy the adapted policy on the emulator "
                     f"({deploy_seconds:g} s)")
        figures["deploy"] = _deploy(adapted, emulator, out, deploy_seconds)

    console.rule(f"[bold]5/{STAGES} report")
    figures["wall_seconds"] = time.monotonic() - started
    from quadmimic.core.fileio import atomic_write_text

    atomic_write_text(out / "figures.json", json.dumps(figures, indent=2) + "\n")
    atomic_write_text(out / "report.md", render_report(figures))
    console.print(f"[green]demo done in {figures['wall_seconds']:.0f} s:[/] "
                  f"{out / 'report.md'}")


# ---------------------------------------------------------------------------- stages
def _evaluate(bundle: Any, dynamics: Path, out: Path, episodes: int) -> dict[str, Any]:
    import numpy as np

    from quadmimic.core.console import console

    prior = np.zeros(bundle.z_dim)
    rows = {
        "nominal": _eval_row(bundle, None, None, episodes, out / "eval_nominal"),
        "held_out_prior": _eval_row(bundle, dynamics, prior, episodes,
                                    out / "eval_held_out_prior"),
    }
    if bundle.estimator() is not None:
        rows["held_out_estimate"] = _eval_row(bundle, dynamics, None, episodes,
                                              out / "eval_held_out_estimate",
                                              estimator=bundle.estimator())
    for name, row in rows.items():
        console.print(f"{name:16s} return {row['mean_return']:7.1f}  episode "
                      f"{row['mean_episode_seconds']:4.1f} s  falls {row['fall_rate']:.0%}  "
                      f"pose {row['pose']:.2f}")
    return rows


def _eval_row(bundle: Any, dynamics: Path | None, z: Any, episodes: int,
              stem: Path, estimator: Any = None) -> dict[str, Any]:
    import numpy as np

    from sim_training.evaluate import evaluate
    from sim_training.rates import EVAL_PHYSICS_HZ

    res = evaluate(bundle, dynamics=dynamics, z=z, episodes=episodes,
                   gif=stem.with_suffix(".gif"), json_out=stem.with_suffix(".json"),
                   physics_hz=EVAL_PHYSICS_HZ, estimator=estimator)
    returns = [r["return"] for r in res.per_episode]
    return {"mean_return": res.mean_return,
            "std_return": float(np.std(returns, ddof=1)) if len(returns) > 1 else 0.0,
            "episodes": len(returns), "mean_episode_seconds": res.mean_episode_seconds,
            "fall_rate": res.fall_rate, "pose": res.reward_terms["pose"],
            "json": stem.with_suffix(".json").name,
            "gif": stem.with_suffix(".gif").name}


def _emulator_eval(bundle: Any, adapted: Any, emulator: Any, rollouts: int,
                   seconds: float) -> dict[str, Any]:
    """Fresh rollouts on the emulator (after the search) with prior, estimate and adapted z.

    When the adaptation's result is the estimate itself (no fixed z beat it) or the prior
    (it beat the estimate), the adapted figure is that one's: one policy, one set of
    rollouts.
    """
    import numpy as np

    from adaptation.adapt import latent_return
    from quadmimic.core.console import console
    from robot_deploy.backends import Connection, make_backend
    from robot_deploy.emulator.process import free_udp_port

    connection = Connection("go1-udp", robot=emulator.robot, port=emulator.port,
                            local_port=free_udp_port())
    robot: Any = make_backend(connection, emulator.robot, realtime=False)
    robot.connect()
    out: dict[str, Any] = {"rollouts": rollouts, "rollout_seconds": seconds}
    choices: dict[str, dict[str, Any]] = {"prior": {"z": np.zeros(bundle.z_dim)}}
    if bundle.estimator() is not None:
        choices["estimate"] = {"z": None, "estimator": bundle.estimator()}
    if (adapted.z is not None and adapted.z.any()) or "estimate" not in choices:
        choices["adapted"] = {"z": adapted.z}
    try:
        for name, kwargs in choices.items():
            out[name] = latent_return(bundle, robot, rollouts=rollouts, seconds=seconds,
                                      reset_robot=lambda: emulator.request({"op": "reset"}),
                                      realtime=True, **kwargs)
            r = out[name]
            console.print(f"emulator {name:9s} return {r['mean']:.3f} ± {r['std']:.3f} over "
                          f"{rollouts} rollouts, {r['trips']} trips", highlight=False)
    finally:
        robot.close()
    if "adapted" not in out:
        same = "estimate" if adapted.z is None else "prior"
        out["adapted"] = {**out[same], "same_as": same}
    return out


def _adapt(policy: Path, emulator: Any, dynamics: Path, out: Path, rollouts: int,
           rollout_seconds: float, adapted: Path) -> dict[str, Any]:
    import shutil

    from adaptation.cli import adapt_with_progress
    from robot_deploy.backends import Connection
    from robot_deploy.emulator.process import free_udp_port

    session = out / "adapt_session"
    shutil.rmtree(session, ignore_errors=True)  # a demo starts afresh (sessions resume)
    connection = Connection("go1-udp", robot=emulator.robot, port=emulator.port,
                            local_port=free_udp_port())
    result = adapt_with_progress(policy, session, connection,
                                 control_port=emulator.control_port, dynamics=dynamics,
                                 rollouts=rollouts, rollout_seconds=rollout_seconds,
                                 out=adapted)
    return {"rollouts": result.rollouts, "budget": result.budget,
            "rollout_seconds": rollout_seconds, "start": result.start,
            "start_z": result.start_z, "final": result.final, "final_z": result.final_z,
            "rounds": len(result.rounds), "incumbent_changes": result.incumbent_changes,
            "robot_seconds": result.robot_seconds, "safety_trips": result.trips,
            "returns_png": "adapt_session/returns.png"}


def _deploy(adapted: Path, emulator: Any, out: Path, seconds: float) -> dict[str, Any]:
    from robot_deploy.backends import Connection
    from robot_deploy.deploy import run_policy
    from robot_deploy.emulator.process import free_udp_port

    emulator.request({"op": "reset"})
    before, start = emulator.counters(), emulator.base_position()
    connection = Connection("go1-udp", robot=emulator.robot, port=emulator.port,
                            local_port=free_udp_port())
    summary = run_policy(adapted, connection, max_seconds=seconds,
                         log=out / "deploy.jsonl").to_json()
    after, end = emulator.counters(), emulator.base_position()
    summary["emulator_counters"] = {k: after[k] - before.get(k, 0) for k in after}
    summary["distance_m"] = float(((end[0] - start[0]) ** 2 + (end[1] - start[1]) ** 2) ** 0.5)
    summary["log"] = "deploy.jsonl"
    from quadmimic.core.console import console

    console.print(f"ran {summary['seconds']:.1f} s, {summary['commands']} commands, "
                  f"walked {summary['distance_m']:.2f} m, stopped by {summary['stopped_by']}"
                  + (f" ({summary['trip']})" if summary["trip"] else ""))
    return summary


# ---------------------------------------------------------------------------- report
def render_report(f: dict[str, Any]) -> str:
    """The demo's ``report.md`` from its figures (links are relative to the report)."""
    ev, ad, dep, rt = f["eval"], f["adapt"], f["deploy"], f["retarget"]
    lines = [
        "# quadmimic demo report", "",
        f"Policy `{f['policy']}`; the emulated robot's dynamics: `{f['held_out_dynamics']}`. "
        f"Wall time {f['wall_seconds']:.0f} s.", "",
        f"## 1. Retarget (default trot clip → {f['robot']})", "",
        "| figure | value |", "|---|---|",
        f"| stance slide max | {rt['stance_slide_max_m'] * 1000:.2f} mm |",
        f"| penetration max | {rt['penetration_max_m'] * 1000:.2f} mm |",
        f"| joint-limit violations | {rt['joint_limit_violations']} |",
        f"| contact agreement | {rt['contact_agreement']:.1%} |", "",
        f"Motion: [{f['stem']}.txt]({f['stem']}.txt), report: [{f['stem']}_report.json]"
        f"({f['stem']}_report.json)", "", f"![preview]({f['stem']}_preview.gif)", "",
        "## 2. Evaluate in simulation", "",
        "| setting | mean return | episode (s) | fall rate | pose term | files |",
        "|---|---|---|---|---|---|",
    ]
    names = {"nominal": "nominal dynamics, encoder z",
             "held_out_prior": "held-out dynamics, prior z = 0",
             "held_out_estimate": "held-out dynamics, online estimate ẑ",
             "held_out_adapted": "held-out dynamics, the adaptation's result"}
    for key, label in names.items():
        if key in ev:
            r = ev[key]
            if r.get("same_as"):
                label += f" (= the {r['same_as']})"
            lines.append(f"| {label} | {r['mean_return']:.1f} | {r['mean_episode_seconds']:.1f}"
                         f" | {r['fall_rate']:.0%} | {r['pose']:.2f} | [json]({r['json']}), "
                         f"[gif]({r['gif']}) |")
    if "held_out_estimate" not in ev:
        lines += ["", "The policy carries no z estimator (`quadmimic estimator BUNDLE` trains "
                  "one), so there is no estimate row and the search starts from the prior."]
    lines += ["", f"![held-out, adapted]({ev['held_out_adapted']['gif']})", "",
              f"## 3. Adapt on the emulator ({f['physics']} behind the go1-udp wire protocol, "
              "held-out dynamics)", "",
              f"Safe search from the {ad['start']}: {ad['rollouts']} rollouts of "
              f"{ad['rollout_seconds']:g} s used of a budget of {ad['budget']} "
              f"({ad['robot_seconds']:.0f} s of policy time), {ad['rounds']} rounds of paired "
              f"validation, the incumbent replaced {ad['incumbent_changes']} times; rollouts "
              f"ended by a safety trip: {ad['safety_trips']}. The result is the final "
              "incumbent: " + _result_words(ad), "",
              f"![returns]({ad['returns_png']})", ""]
    em = f.get("emulator")
    if em:
        lines += [f"Fresh rollouts on the emulator after the search ({em['rollouts']} per z, "
                  f"{em['rollout_seconds']:g} s each):", "",
                  "| z | return (mean ± std) | trips |", "|---|---|---|"]
        for key in ("prior", "estimate", "adapted"):
            if key in em:
                same = em[key].get("same_as")
                lines.append(f"| {key}{f' (= the {same})' if same else ''} | "
                             f"{em[key]['mean']:.3f} ± {em[key]['std']:.3f} | "
                             f"{em[key]['trips']} |")
        lines.append("")
    lines += ["**In short:** " + summary_sentence(f), ""]
    lines += ["## 4. Deploy the adapted policy on the emulator", "",
              f"Ran {dep['seconds']:.1f} s: {dep['policy_steps']} policy steps, "
              f"{dep['commands']} joint commands, {dep['distance_m']:.2f} m walked, "
              f"stopped by **{dep['stopped_by']}**"
              + (f" (trip: {dep['trip']})" if dep["trip"] else "") + "; "
              f"policy inference p50 {dep['inference_ms_p50'] or 0:.2f} ms. "
              f"Log: [deploy.jsonl]({dep['log']}).", "",
              "Emulator counters during the deploy: "
              + ", ".join(f"{k} {v:g}" for k, v in dep["emulator_counters"].items()), ""]
    return "\n".join(lines) + "\n"


def _result_words(ad: dict[str, Any]) -> str:
    """The adaptation's result in words (the demo's ``adapt`` figures)."""
    final = ad.get("final_z")
    if final is None:
        return "the online estimate, which no fixed z beat in paired rollouts."
    if not any(final):
        return "the prior z = 0" + (", which beat the estimate in paired rollouts."
                                    if ad.get("start") == "estimate" else ".")
    return f"the fixed z `{[round(v, 3) for v in final]}`."


def summary_sentence(f: dict[str, Any]) -> str:
    """One plain sentence: what the estimate and the adaptation changed, by how much, spread.

    Compares on the emulator (fresh rollouts, mean ± std) the estimate and the adapted z with
    the prior, and in the PyBullet held-out eval their fall rates.
    """
    em, ev = f.get("emulator") or {}, f["eval"]
    if "prior" not in em:
        return "no emulator figures."
    prior = em["prior"]
    parts = []
    for key, label in (("estimate", "the online estimate"), ("adapted", "the adaptation's result")):
        if key not in em:
            continue
        r = em[key]
        if r.get("same_as") == "estimate":
            parts.append("the search kept the estimate as its result (no fixed z beat it in "
                         "paired rollouts)")
            continue
        if r.get("same_as") == "prior":
            parts.append("the search's result is the prior, which beat the estimate in paired "
                         "rollouts")
            continue
        change = r["mean"] - prior["mean"]
        rel = change / prior["mean"] if abs(prior["mean"]) > 1e-12 else float("nan")
        parts.append(f"{label} {'raised' if change > 0 else 'lowered' if change < 0 else 'kept'}"
                     f" the emulator return from {prior['mean']:.3f} ± {prior['std']:.3f} "
                     f"(prior, {prior['trips']} trips) to {r['mean']:.3f} ± {r['std']:.3f} "
                     f"({rel:+.0%}, {r['trips']} trips; mean ± std over {em['rollouts']} fresh "
                     "rollouts each)")
    falls = [f"{label} {ev[key]['fall_rate']:.0%}" for key, label in
             (("held_out_prior", "prior"), ("held_out_estimate", "estimate"),
              ("held_out_adapted", "adapted")) if key in ev]
    text = "; ".join(parts) if parts else "no estimate or adapted figure"
    return (text[0].upper() + text[1:] + "; falls in the PyBullet held-out eval: "
            + ", ".join(falls) + ".")
