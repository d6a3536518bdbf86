"""``quadmimic docs``: the tables of ``docs/results.md``, generated from the data they report.

Figures that come from a benchmark or an evaluation are never typed by hand: each table of
``docs/results.md`` lies between two marker comments,

.. code-block:: markdown

    <!-- quadmimic docs: skills -->
    ... (generated) ...
    <!-- /quadmimic docs: skills -->

and ``quadmimic docs`` rewrites what is between them from the files (atomically), leaving the
prose around them as written. The sections (:data:`SECTIONS`):

- ``skills``: the skill catalogue, :func:`sim_training.skills.skill_rows` and
  :func:`~sim_training.skills.markdown_table` (what ``quadmimic skills --markdown`` prints);
- ``evaluations``: every shipped bundle's own ``eval.json`` (10 episodes at nominal dynamics);
- ``transfer-robots`` and ``transfer``: ``data/benchmarks/transfer.json`` (``quadmimic bench
  transfer``), its robots and its table (:func:`adaptation.transfer_report.markdown_table`).

``tests/quadmimic/test_docs.py`` checks that the committed file equals what the command writes.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from quadmimic.core.errors import DocsError
from quadmimic.core.fmt import MISSING, fig, percent
from quadmimic.paths import DATA, REPO

RESULTS = REPO / "docs" / "results.md"
"""The document the command writes by default."""

MARKER = re.compile(r"<!-- quadmimic docs: ([\w-]+) -->\n(.*?)<!-- /quadmimic docs: \1 -->",
                    re.DOTALL)
"""A generated section: its name, then the generated text, up to its closing marker."""

OPENING = re.compile(r"<!-- quadmimic docs: ([\w-]+) -->")
"""An opening marker (to report one without its closing marker)."""


def _read_json(path: Path) -> Any:
    """A JSON file the document reports, or one :class:`DocsError` line naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DocsError("not found", path) from None
    except OSError as exc:
        raise DocsError(f"cannot read: {exc.strerror}", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise DocsError(f"not valid JSON ({getattr(exc, 'msg', exc)})", path, line) from None


def _bundles(policies: Path) -> list[Path]:
    """The bundle folders under ``policies`` (those with a manifest), by name."""
    if not policies.is_dir():
        raise DocsError("not a folder of policy bundles", policies)
    bundles = sorted(p for p in policies.iterdir() if (p / "manifest.json").is_file())
    if not bundles:
        raise DocsError("holds no policy bundle (no manifest.json)", policies)
    return bundles


def skills_section(data: Path, doc_dir: Path) -> str:
    """The skill catalogue of ``data/policies``, pictures linked relative to ``doc_dir``.

    Args:
        data: The data folder (``data/``).
        doc_dir: Folder of the document the table goes into.

    Returns:
        The Markdown table of :func:`sim_training.skills.markdown_table`.
    """
    from sim_training.skills import markdown_table, skill_rows

    policies = data / "policies"
    for bundle in _bundles(policies):  # a missing or malformed file: one line naming it
        for name in ("manifest.json", "config.json", "eval.json", "curve.json"):
            if name.startswith(("manifest", "config")) or (bundle / name).is_file():
                _read_json(bundle / name)
    rows = skill_rows(policies, repo=data.parent)
    for row in rows:
        if row["strip"]:
            row["strip"] = os.path.relpath(row["strip"], doc_dir)
    return markdown_table(rows)


def steering_section(data: Path, doc_dir: Path) -> str:
    """The steerable bundles' command evaluations (``commands_<script>.json``) as one table.

    Args:
        data: The data folder (``data/``).
        doc_dir: Folder of the document the trajectory plots are linked from.

    Returns:
        One row per steerable bundle and script: episodes, falls, speed and yaw-rate error,
        pose at the clip's own speed, command to motion, the trajectory plot; or a sentence
        when no shipped bundle is steerable.
    """
    from sim_training.evaluate import OWN_COMMAND_SCRIPTS

    lines = []
    for bundle in _bundles(data / "policies"):
        for name, _ in OWN_COMMAND_SCRIPTS:
            path = bundle / f"commands_{name}.json"
            if not path.is_file():
                continue
            ev = _read_json(path)
            plot = os.path.relpath(bundle / f"trajectory_{name}.png", doc_dir)
            lines.append(
                f"| `{bundle.name}` | {name} | {ev['episodes']} × {ev['script_seconds']:.1f} s "
                f"| {ev['falls']} | {fig(ev.get('speed_error'), '{:.0%}')} "
                f"| {fig(ev.get('yaw_rate_error'), '{:.2f}')} "
                f"| {fig(ev.get('pose_at_clip_speed'), '{:.2f}')} "
                f"| {fig(ev.get('response_seconds'), '{:.2f} s')} | [plot]({plot}) |")
    if not lines:
        return "No shipped bundle is steerable yet.\n"
    head = ("| bundle | script | episodes | falls | speed error | yaw-rate error (rad/s) "
            "| pose at the clip's speed | command to motion | trajectories |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    return head + "\n".join(lines) + "\n"


def evaluations_section(data: Path, doc_dir: Path) -> str:
    """Every shipped bundle's own evaluation (its ``eval.json``) as one Markdown table.

    Args:
        data: The data folder (``data/``).
        doc_dir: Folder of the document (unused: the table links nothing).

    Returns:
        A caption line and the table: episodes, return, falls, reward terms, progress and
        tracking ratios, and the date the bundle was written (its manifest's ``created``).
    """
    from sim_training.evaluate import TRACKING

    evals: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for bundle in _bundles(data / "policies"):
        manifest = _read_json(bundle / "manifest.json")
        if not (bundle / "eval.json").is_file():
            continue
        evals.append((bundle.name, manifest, _read_json(bundle / "eval.json")))
    terms: list[str] = []
    for _, _, ev in evals:
        terms += [t for t in ev.get("reward_terms", {}) if t not in terms]
    lines = [
        "| bundle | robot | written | episodes | mean return | falls | "
        + " | ".join(t.replace("_", " ") for t in terms)
        + " | progress | forward / lateral / yaw tracking |",
        "|---|---|---|---|---|---|" + "---|" * len(terms) + "---|---|",
    ]
    for name, manifest, ev in evals:
        written = str(manifest.get("created", "—"))[:10]
        episodes = (f"{ev['episodes']} × {ev['episode_limit_seconds']:g} s, "
                    f"{ev['physics_hz']:.0f} Hz")
        reward = ev.get("reward_terms", {})
        cells = [f"`{name}`", str(ev.get("robot", manifest.get("robot"))), written, episodes,
                 f"{ev['mean_return']:.1f}", f"{ev['fall_rate']:.0%}"]
        cells += [fig(reward.get(t)) for t in terms]
        cells += [percent(ev.get("progress_ratio")),
                  " / ".join(percent(ev.get(f"{k}_ratio")) for k in TRACKING)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _drop_empty_columns(table: str) -> str:
    """A Markdown table without the columns whose every body cell is ``—``."""
    lines = table.splitlines()
    rows = [i for i, line in enumerate(lines) if line.startswith("|")]
    if len(rows) < 3:
        return table
    cells = {i: lines[i].strip().strip("|").split("|") for i in rows}
    body = rows[2:]
    keep = [c for c in range(len(cells[rows[0]]))
            if any(cells[i][c].strip() != MISSING for i in body)]
    for i in rows:
        lines[i] = "|" + "|".join(cells[i][c] for c in keep) + "|"
    return "\n".join(lines) + "\n"


ENGINES = {"sim": "PyBullet", "mujoco": "MuJoCo"}
"""Display names of the transfer benchmark's engines."""


def _transfer(data: Path) -> dict[str, Any]:
    path = data / "benchmarks" / "transfer.json"
    result = _read_json(path)
    if not isinstance(result, dict) or not {"rows", "settings", "robots"} <= set(result):
        raise DocsError("not a transfer benchmark (keys rows, settings, robots)", path)
    if result["settings"].get("complete") is False:
        raise DocsError(f"an unfinished run ({len(result['settings'].get('finished', []))} of "
                        f"{len(result['settings'].get('bundles', []))} bundles); continue it "
                        f"with quadmimic bench transfer --resume", path)
    return result


def _measured(result: dict[str, Any]) -> str:
    """When a benchmark was run: the dates in its note, and the version if it records one."""
    dates = sorted(set(re.findall(r"\d{4}-\d{2}-\d{2}", str(result.get("note", "")))))
    when = ("on an unrecorded date" if not dates else
            f"on {dates[0]}" if len(dates) == 1 else f"from {dates[0]} to {dates[-1]}")
    version = f" with quadmimic {result['version']}" if result.get("version") else ""
    return f"Measured {when}{version}"


def transfer_robots_section(data: Path, doc_dir: Path) -> str:
    """The robots of the transfer benchmark: what each stands for and its engine.

    Args:
        data: The data folder (``data/``).
        doc_dir: Folder of the document (unused).

    Returns:
        A Markdown table, one row per robot of ``data/benchmarks/transfer.json``.
    """
    result = _transfer(data)
    lines = ["| robot | engine | held out | what it stands for |", "|---|---|---|---|"]
    for name, robot in result["robots"].items():
        engine = ENGINES.get(str(robot.get("engine")), str(robot.get("engine")))
        lines.append(f"| {name} | {engine} | "
                     f"{'yes' if robot.get('held_out') else 'no'} | {robot.get('note', '')} |")
    return "\n".join(lines) + "\n"


def transfer_section(data: Path, doc_dir: Path) -> str:
    """The transfer table of ``data/benchmarks/transfer.json``, with when it was measured.

    Args:
        data: The data folder (``data/``).
        doc_dir: Folder of the document (unused).

    Returns:
        The date line, then :func:`adaptation.transfer_report.markdown_table`'s caption and table
        without the columns the file has no figures for.
    """
    from adaptation.transfer_report import markdown_table

    result = _transfer(data)
    wall = result.get("wall_seconds")
    took = "" if wall is None else f"; the first run took {wall / 60:.0f} min on 2 vCPUs"
    return (f"*{_measured(result)}{took}.*\n\n"
            + _drop_empty_columns(markdown_table(result)))


Z_SOURCES = {"estimate": "acting with its online estimate ẑ", "prior": "at the prior z = 0",
             "fixed": "with its fixed z", "oracle": "with the encoder's z of the true dynamics"}
"""How a bundle's own evaluation chose its z (``eval.json``'s ``z_source``), in words."""


def bundle_evaluation_section(data: Path, doc_dir: Path) -> str:
    """A bundle's own evaluation in its ``README.md``: ``eval.json`` (and ``estimator.json``).

    Args:
        data: The data folder (unused: the bundle is the document's folder).
        doc_dir: The bundle folder (its ``README.md`` is the document).

    Returns:
        One bullet with the falls, pose term, progress and tracking of ``eval.json``, one per
        command evaluation of a steerable bundle (``commands_<script>.json``), and one with
        the estimator's validation error where the bundle carries one.
    """
    from sim_training.evaluate import OWN_COMMAND_SCRIPTS, TRACKING

    ev = _read_json(doc_dir / "eval.json")
    how = Z_SOURCES.get(str(ev.get("z_source")), "")
    falls = ("no fall" if not ev["fall_rate"] else f"falls in {ev['fall_rate']:.0%}")
    parts = [f"{falls} in {ev['episodes']} episodes of {ev['episode_limit_seconds']:g} s at "
             f"nominal dynamics ({ev['physics_hz']:.0f} Hz physics"
             + (f", {how}" if how else "") + ")",
             f"pose {ev['reward_terms']['pose']:.2f}"]
    if ev.get("progress_ratio") is not None:
        parts.append(f"progress {percent(ev['progress_ratio'])}")
    parts += [f"{k.removesuffix('_speed').replace('_', ' ')} tracking {percent(ev[f'{k}_ratio'])}"
              for k in TRACKING if ev.get(f"{k}_ratio") is not None]
    lines = [f"- **Evaluation** (`eval.json`): {', '.join(parts)}."]
    for name, _ in OWN_COMMAND_SCRIPTS:
        if (doc_dir / f"commands_{name}.json").is_file():
            lines.append(_command_line(name, _read_json(doc_dir / f"commands_{name}.json")))
    if (doc_dir / "estimator.json").is_file():
        val = _read_json(doc_dir / "estimator.json").get("validation", {})
        lines.append(f"- **z estimator** (`estimator.json`): on {val['episodes']} fresh "
                     f"episodes of the training ranges acting with ẑ, mean squared error "
                     f"{val['mse']:.3f} per value against the prior's {val['prior_mse']:.3f}.")
    return "".join(textwrap.fill(line, 95, subsequent_indent="  ", break_on_hyphens=False)
                   + "\n" for line in lines)


def _command_line(name: str, ev: dict[str, Any]) -> str:
    """One bullet of a steerable bundle's command evaluation (``commands_<name>.json``)."""
    what = ("commands drawn as in training, each held 2–4 s" if name == "random"
            else f"the `{name}` script")
    falls = ("no fall" if not ev["falls"] else
             f"{ev['falls']} fall{'s' if ev['falls'] > 1 else ''}")
    return (f"- **Steering, {name}** (`commands_{name}.json`, `trajectory_{name}.png`): "
            f"{what}, {falls} in {ev['episodes']} episodes of {ev['script_seconds']:.1f} s; "
            f"speed error {fig(ev.get('speed_error'), '{:.0%}')} of the commanded speed, yaw-rate "
            f"error {fig(ev.get('yaw_rate_error'), '{:.2f}')} rad/s, pose "
            f"{fig(ev.get('pose_at_clip_speed'), '{:.2f}')} at the clip's own speed, command to "
            f"motion {fig(ev.get('response_seconds'), '{:.2f} s')}.")


SECTIONS: dict[str, Callable[[Path, Path], str]] = {
    "skills": skills_section,
    "evaluations": evaluations_section,
    "steering": steering_section,
    "transfer-robots": transfer_robots_section,
    "transfer": transfer_section,
    "evaluation": bundle_evaluation_section,
}
"""Generated sections by marker name: each maps (data folder, document folder) to Markdown.
``evaluation`` belongs in a bundle's ``README.md``, the others in ``docs/results.md``."""


def documents(data: Path = DATA) -> list[Path]:
    """The documents ``quadmimic docs`` writes.

    ``docs/results.md``, and every shipped bundle's ``README.md`` that holds a generated
    section.
    """
    readmes = [b / "README.md" for b in _bundles(data / "policies")
               if OPENING.search((b / "README.md").read_text(encoding="utf-8")
                                 if (b / "README.md").is_file() else "")]
    return [RESULTS, *readmes]


def render(text: str, doc: Path, data: Path = DATA) -> str:
    """The document ``text`` with every generated section rewritten from ``data``.

    Args:
        text: The document as it is.
        doc: Its path (for messages and relative links).
        data: The data folder the tables report.

    Returns:
        The document with fresh tables; prose outside the markers is unchanged.

    Raises:
        DocsError: A marker without its closing marker, an unknown section, no section at
            all, or missing or malformed data.
    """
    closed = {m.group(1) for m in MARKER.finditer(text)}
    for m in OPENING.finditer(text):
        if m.group(1) not in closed:
            line = text.count("\n", 0, m.start()) + 1
            raise DocsError(f"section {m.group(1)!r} has no closing marker "
                            f"'<!-- /quadmimic docs: {m.group(1)} -->'", doc, line)
        if m.group(1) not in SECTIONS:
            line = text.count("\n", 0, m.start()) + 1
            raise DocsError(f"unknown generated section {m.group(1)!r}; known: "
                            f"{', '.join(SECTIONS)}", doc, line)
    if not closed:
        raise DocsError("holds no generated section ('<!-- quadmimic docs: NAME -->'); known: "
                        f"{', '.join(SECTIONS)}", doc)
    doc_dir = doc.resolve().parent

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        return (f"<!-- quadmimic docs: {name} -->\n{SECTIONS[name](data, doc_dir)}"
                f"<!-- /quadmimic docs: {name} -->")

    return MARKER.sub(fill, text)


def update(doc: Path = RESULTS, data: Path = DATA, check: bool = False) -> bool:
    """Regenerate the tables of ``doc`` in place (atomically), or only check them.

    Args:
        doc: The document (``docs/results.md``).
        data: The data folder the tables report.
        check: Only compare; write nothing.

    Returns:
        Whether the document was (or, with ``check``, would be) changed.

    Raises:
        DocsError: Unreadable document, bad markers, missing or malformed data.
    """
    from quadmimic.core.fileio import atomic_write_text

    try:
        text = doc.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DocsError("not found (the tables go between its marker comments)", doc) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DocsError(f"cannot read: {getattr(exc, 'strerror', None) or exc}", doc) from None
    new = render(text, doc, data)
    if new == text:
        return False
    if not check:
        atomic_write_text(doc, new)
    return True


def docs_command(
    doc: Annotated[Path | None, typer.Argument(
        help="The document whose generated tables to rewrite.",
        show_default="docs/results.md and every shipped bundle's README.md")] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Write nothing; exit 1 if the tables are out of date.")] = False,
) -> None:
    """Regenerate the tables of docs/results.md and the bundles' READMEs from the data."""
    stale = []
    for path in [doc] if doc is not None else documents():
        changed = update(path, check=check)
        stale += [path] if changed else []
        if check:
            typer.echo(f"{path}: {'out of date (run quadmimic docs)' if changed else 'up to date'}",
                       err=True)
        else:
            typer.echo(f"{path}: {'tables rewritten' if changed else 'already up to date'}",
                       err=True)
    if check and stale:
        raise typer.Exit(1)
