"""The skill catalogue: what every shipped bundle does, as ``quadmimic skills`` and README show it.

One row per bundle under ``data/policies``, read from the bundle alone: its manifest (robot,
samples, wall time, samples and wall time to the tracking threshold, warm start), its
``eval.json`` (pose term, progress, forward / lateral / yaw tracking, falls), the source of its
motion (the motion's quality report, written next to the motion by ``quadmimic retarget``) and
its picture (``strip.png``, frames of its evaluation rollout).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from quadmimic.core.fmt import MISSING, fig, percent
from sim_training.evaluate import TRACKING


def _source_of(motion_path: str, repo: Path) -> str | None:
    """The clip or motion a reference motion was retargeted from (its report's ``clip``)."""
    path = Path(motion_path)
    if not path.is_absolute():
        path = repo / path
    report = path.with_name(path.stem + "_report.json")
    if not report.is_file():
        return None
    rep = json.loads(report.read_text())
    clip = rep.get("clip")
    if clip is None:
        return None
    name = Path(clip).name
    return f"{name} ({rep['source_robot']})" if rep.get("source_robot") else name


def _since_ancestor(bundle: Path, sources: dict[str, str]) -> tuple[str, float, float] | None:
    """The nearest shipped ancestor of a bundle, and the samples and hours trained since.

    The learning curve holds the whole lineage, each row marked with the run it came from
    (``from``); a run that a shipped bundle was written from (its manifest's ``source_run``)
    is an ancestor. Hours add up each later run's own wall time.

    Returns:
        ``(ancestor name, samples, hours)``, or None if no ancestor is in ``sources``.
    """
    curve_path = bundle / "curve.json"
    if not curve_path.is_file():
        return None
    curve = json.loads(curve_path.read_text())
    rows = curve if isinstance(curve, list) else curve.get("rows", [])
    segments: list[tuple[str, float, float]] = []  # run, last samples, last wall seconds
    for r in rows:
        run = str(r.get("from", ""))
        if segments and segments[-1][0] == run:
            segments[-1] = (run, r["timesteps"], r["wall_seconds"])
        else:
            segments.append((run, r["timesteps"], r["wall_seconds"]))
    for i in range(len(segments) - 2, -1, -1):
        name = sources.get(segments[i][0])
        if name is not None and name != bundle.name:
            later = segments[i + 1:]
            return (name, later[-1][1] - segments[i][1],
                    sum(wall for _, _, wall in later) / 3600.0)
    return None


def skill_rows(policies: str | Path, repo: str | Path | None = None) -> list[dict[str, Any]]:
    """One row of figures per bundle directory under ``policies`` (sorted by name).

    Args:
        policies: Folder of bundles (``data/policies``).
        repo: Root that relative motion paths in the configs are relative to (default: the
            parent of ``policies``' parent).

    Returns:
        Rows with ``name``, ``robot``, ``motion``, ``source``, ``init_from``, ``samples``,
        ``wall_hours`` (the bundle's own run), ``ancestor`` (the nearest shipped bundle in its
        lineage, or None), ``samples_since`` and ``hours_since`` (trained since that
        ancestor, over every run in between), ``samples_to_threshold``,
        ``minutes_to_threshold`` (the bundle's own run), ``pose``,
        ``fall_rate``, ``progress``, ``<tracking key>_ratio`` and ``strip`` (path or None).
    """
    policies = Path(policies)
    root = Path(repo) if repo is not None else policies.resolve().parents[1]
    bundles = sorted(p for p in policies.iterdir() if (p / "manifest.json").is_file())
    sources = {}
    for bundle in bundles:
        source = json.loads((bundle / "manifest.json").read_text()).get("source_run")
        if source:
            sources[str(source)] = bundle.name
    rows = []
    for bundle in bundles:
        manifest = json.loads((bundle / "manifest.json").read_text())
        config = json.loads((bundle / "config.json").read_text())
        ev = json.loads((bundle / "eval.json").read_text()) if (
            bundle / "eval.json").is_file() else {}
        wall = manifest.get("wall_seconds_to_threshold")
        row = {
            "name": bundle.name, "robot": manifest["robot"], "motion": config["motion"],
            "source": _source_of(config["motion"], root),
            "init_from": config.get("init_from"),
            "latent": manifest.get("latent", True),
            "samples": manifest.get("samples"),
            "wall_hours": manifest.get("train_wall_seconds", 0.0) / 3600.0,
            "samples_to_threshold": manifest.get("samples_to_threshold"),
            "minutes_to_threshold": None if wall is None else wall / 60.0,
            "pose": ev.get("reward_terms.pose"), "fall_rate": ev.get("fall_rate"),
            "episodes": ev.get("episodes"), "progress": ev.get("progress_ratio"),
            "strip": str(bundle / "strip.png") if (bundle / "strip.png").is_file() else None,
        }
        for k in TRACKING:
            row[f"{k}_ratio"] = ev.get(f"{k}_ratio")
        since = _since_ancestor(bundle, sources)
        row["ancestor"], row["samples_since"], row["hours_since"] = since or (None, None, None)
        rows.append(row)
    return rows


def _warm_start(init_from: str) -> str:
    """A warm start as a reader wants it.

    A copy of one of a run's checkpoints reads as the run's name and sample count; anything
    else as the path given (a run may share its name with the bundle written from it, so the
    name alone would read as the row itself).
    """
    name = Path(init_from).name
    if "@" in name:  # a run directory kept at one of its checkpoints: "<run>@<samples>"
        run, step = name.split("@", 1)
        if step.isdigit():
            return f"`{run}` at {int(step) / 1e3:.0f} k"
    return f"`{Path(init_from).as_posix()}`"


def _k(v: float | None) -> str:
    return fig(None if v is None else v / 1e3, "{:.0f} k")


def markdown_table(rows: list[dict[str, Any]], relative_to: str | Path | None = None) -> str:
    """The rows as a Markdown table (README), pictures linked relative to ``relative_to``."""
    lines = ["| skill | robot | source motion | warm start | samples (wall) since it | "
             "threshold at | pose | progress | forward / lateral / yaw tracking | falls | "
             "picture |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        init = MISSING if not r["init_from"] else _warm_start(r["init_from"])
        if r["ancestor"] is not None:
            init = f"`{r['ancestor']}`"
            samples = f"{r['samples_since'] / 1e6:.2f} M ({r['hours_since']:.2f} h)"
        else:
            samples = (MISSING if r["samples"] is None else
                       f"{r['samples'] / 1e6:.2f} M ({r['wall_hours']:.2f} h)")
        at = ("not reached" if r["samples_to_threshold"] is None else
              f"{_k(r['samples_to_threshold'])}, {r['minutes_to_threshold']:.0f} min")
        tracking = " / ".join(percent(r[f"{k}_ratio"]) for k in TRACKING)
        pose = fig(r["pose"])
        falls = MISSING if r["fall_rate"] is None else f"{r['fall_rate']:.0%} of {r['episodes']}"
        picture = ""
        if r["strip"]:
            path = Path(r["strip"])
            if relative_to is not None:
                path = path.resolve().relative_to(Path(relative_to).resolve())
            picture = f"![{r['name']}]({path.as_posix()})"
        lines.append(f"| `{r['name']}` | {r['robot']} | {r['source'] or r['motion']} | {init} | "
                     f"{samples} | {at} | {pose} | "
                     f"{percent(r['progress'])} | {tracking} | {falls} | {picture} |")
    return "\n".join(lines) + "\n"
