"""The transfer benchmark: shipped policies on PyBullet, MuJoCo and held-out MuJoCo robots.

``quadmimic bench transfer`` runs :func:`bench_transfer`: every policy bundle on every test
robot (:class:`~adaptation.transfer_robots.TransferRobot`): PyBullet at nominal dynamics
(``pybullet_nominal``, the training engine), MuJoCo at nominal dynamics (``mujoco_nominal``,
the second engine), and the held-out MuJoCo robots of a file
(:func:`~adaptation.transfer_robots.load_held_out`, ``data/dynamics/held_out_mujoco.json``:
payload, friction, latency, torque–speed, sensor noise). Per rollout it measures

* the **return**: the adaptation return (:func:`adaptation.returns.step_reward`, what a robot
  can measure from its own, possibly noisy, sensors), summed and divided by the planned steps;
* a **fall**: a safety trip, or a ground-truth body roll or pitch beyond
  :attr:`~adaptation.rollouts.TransferConfig.max_tilt`;
* the **progress ratio**: the ground-truth base displacement (``backend.base_pose()``) along the
  reference's displacement over the planned rollout, over the reference's, the figure of
  :func:`sim_training.evaluate.progress_ratio` (the reference turned onto the robot's start
  heading, as the controller does).

Figures per bundle and robot: a latent bundle with the prior latent (zeros) and, when it
carries an estimator, with its online ẑ (``estimate``: 0 search rollouts); on held-out robots
also the oracle (the encoder's z of the robot's true parameters, where dynamics keys describe
it) and the result of the safe search (:class:`~adaptation.adapt.AdaptationSession`: from the
estimate, or the prior without an estimator; the final incumbent, which is the online
estimate itself until a fixed z beats it) after budgets of 5 and 10
rollouts (:attr:`~adaptation.rollouts.TransferConfig.adapt_checkpoints`); and the robust
baseline bundle of the same robot and motion (``<name>_robust`` beside it) when there is one.
A bundle without a latent gets one figure, ``policy``.

Fresh evaluation: every rollout starts from a reset, then gets a random shove (a horizontal
velocity of :attr:`~adaptation.rollouts.TransferConfig.shove_speed` in a random direction at a
random time early in the rollout) and, on robots with sensor noise, noise from its own seed. A
rollout's seed comes from the (benchmark seed, stream, index) triple
(:func:`~adaptation.rollouts.rollout_seed`): the search's rollouts use the ``search`` stream,
evaluations the ``eval`` stream, so an adapted z is never scored on the shoves and noise that
selected it. Every figure of one seed uses the same evaluation seeds (paired comparison). A
figure per seed is the mean over :attr:`~adaptation.rollouts.TransferConfig.eval_rollouts`
rollouts; the table gives mean ± standard deviation (sample, ddof 1) over seeds, the fall rate
over all evaluation rollouts, and the progress ratio mean ± std over seeds.

All robots run lockstep (``realtime=False``): as fast as the CPU allows.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from adaptation.adapt import AdaptationSession, training_latents
from adaptation.config import AdaptConfig
from adaptation.rollouts import (
    Rig,
    TransferConfig,
    aggregate,
    evaluation_rollout,
    figure_of,
    rollout_seed,
    sample_std,
)
from adaptation.transfer_report import markdown_table
from adaptation.transfer_robots import TransferBenchError, TransferRobot, robot_summary
from quadmimic.core.records import JsonRecord
from sim_training.bundle import PolicyBundle
from sim_training.export import OnnxActor


@dataclass(frozen=True)
class TransferRow(JsonRecord):
    """One figure of one bundle on one test robot: mean ± std over seeds, and per seed."""

    bundle: str
    """The bundle's name."""
    robot: str
    """The test robot's name."""
    figure: str
    """``prior`` (z = 0), ``estimate`` (the online ẑ), ``policy`` (a bundle without latent),
    ``oracle``, ``adapted_N`` (the search's incumbent after a budget of N rollouts),
    ``z_spread`` or ``robust`` (the bundle's robust baseline)."""
    latent: bool
    """The bundle has a latent."""
    return_mean: float
    """Mean over seeds of the per-seed mean return."""
    return_std: float
    """Sample std (ddof 1) over seeds of the per-seed mean return."""
    fall_rate: float
    """Falls over all evaluation rollouts."""
    falls: int
    """Evaluation rollouts that fell."""
    rollouts: int
    """Evaluation rollouts in all."""
    progress_mean: float | None
    """Mean over seeds of the progress ratio (None: the motion does not travel)."""
    progress_std: float | None
    """Its sample std over seeds."""
    per_seed: list[dict[str, Any]]
    """Per seed: ``seed``, ``return``, ``fall_rate``, ``progress``, ``eval_seeds``,
    ``rollouts``; adapted figures also ``z`` (the incumbent), ``start_z``, ``budget``,
    ``search_rollouts`` (the budget used), ``search_seeds`` (the seed of each rollout the
    search ran, paired rollouts sharing one), ``search_trips`` and ``incumbent_changes``."""
    spread_min: float | None = None
    """``z_spread`` only: the lowest return over training latents (:func:`spread_figures`)."""
    spread_max: float | None = None
    """``z_spread`` only: the highest."""
    spread_std: float | None = None
    """``z_spread`` only: std across latents within a seed, mean over seeds."""
    robust_bundle: str | None = None
    """``robust`` only: the baseline bundle's name."""
    z_error: float | None = None
    """``estimate`` on a robot with an oracle z: mean squared error per value of the
    rollouts' mean ẑ against it (:func:`z_errors`), mean over seeds."""
    z_error_prior: float | None = None
    """The same for the prior z = 0 (the error the estimate is to beat)."""

    def to_json(self) -> dict[str, Any]:
        """The row as in the bench's JSON file: figures a row does not have are left out."""
        optional = ("spread_min", "spread_max", "spread_std", "robust_bundle")
        return {k: v for k, v in super().to_json().items()
                if k not in optional or v is not None}


@dataclass(frozen=True)
class TransferResult(JsonRecord):
    """The transfer benchmark's result (:func:`bench_transfer`)."""

    settings: dict[str, Any]
    """The :class:`~adaptation.rollouts.TransferConfig`, the bundles, their robust partners
    and what the figures mean."""
    robots: dict[str, dict[str, Any]]
    """Each test robot (:func:`~adaptation.transfer_robots.robot_summary`) by name."""
    rows: list[TransferRow]
    """One row per bundle × robot × figure."""
    markdown: str
    """The table (:func:`~adaptation.transfer_report.markdown_table`)."""
    wall_seconds: float
    """Wall time of the benchmark (s)."""

    def to_json(self) -> dict[str, Any]:
        """The bench's JSON file."""
        return {"settings": self.settings, "robots": self.robots,
                "rows": [r.to_json() for r in self.rows], "markdown": self.markdown,
                "wall_seconds": self.wall_seconds}


def is_bundle(path: Path) -> bool:
    """A shipped-bundle folder (it has a ``manifest.json``)."""
    return path.is_dir() and (path / "manifest.json").is_file()


def shipped_bundles(folder: str | Path) -> list[Path]:
    """Every bundle folder directly under ``folder``, sorted by name."""
    folder = Path(folder)
    return sorted(p for p in folder.iterdir() if is_bundle(p)) if folder.is_dir() else []


def robust_partner(path: Path, search: Sequence[Path] = ()) -> Path | None:
    """The robust baseline of a latent bundle: ``<name>_robust`` beside it or in ``search``."""
    for folder in (path.parent, *search):
        candidate = Path(folder) / f"{path.name}_robust"
        if is_bundle(candidate):
            return candidate
    return None


class _Policy:
    """A loaded bundle, its ONNX actor (built once) and its name."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        self.bundle = PolicyBundle.load(path)
        self._actor: OnnxActor | None = None

    @property
    def actor(self) -> OnnxActor:
        if self._actor is None:
            self._actor = OnnxActor(self.bundle)
        return self._actor


def plan_rollouts(policies: Sequence[tuple[bool, bool]], robots: Sequence[TransferRobot],
                  config: TransferConfig) -> int:
    """Rollouts a benchmark will run (for a progress bar), upper bound.

    Args:
        policies: (latent with an estimator, has robust partner) per bundle.
        robots: Test robots.
        config: Settings.
    """
    per_fig = config.eval_rollouts * len(config.seeds)
    used = AdaptConfig(rollouts=config.adapt_checkpoints[-1], pairs=config.pairs
                       ).rollouts_used()
    total = 0
    for latent, partner in policies:
        for robot in robots:
            total += per_fig * (1 + partner + latent)
            if latent and robot.held_out:
                total += len(config.seeds) * used
                total += per_fig * (len(config.adapt_checkpoints) + 1 + config.spread_latents)
    return total


def bench_transfer(bundles: Sequence[str | Path], robots: Sequence[TransferRobot],
                   config: TransferConfig | None = None, *,
                   robust_search: Sequence[Path] = (),
                   partners: dict[str, Path] | None = None,
                   progress: Callable[[int, int, str], None] | None = None,
                   previous: TransferResult | None = None,
                   on_bundle: Callable[[TransferResult], None] | None = None
                   ) -> TransferResult:
    """Run the transfer benchmark (see the module docstring).

    Args:
        bundles: Policy bundles (or runs).
        robots: Test robots (:func:`nominal_robots`, :func:`load_held_out`,
            :func:`select_robots`).
        config: Settings.
        robust_search: Folders where a latent bundle's ``<name>_robust`` is also looked for.
        partners: A robust baseline per bundle name, instead of looking for one.
        progress: Called after every rollout with (done, planned total, what runs).
        previous: A partial result of the same settings and robots (:func:`load_partial`):
            its finished bundles keep their rows and are not run again.
        on_bundle: Called with the result so far (the finished bundles' rows, settings
            ``finished`` and ``complete``) after every bundle, e.g. to write it to disk.

    Returns:
        The settings, the robots, one :class:`TransferRow` per bundle × robot × figure, the
        Markdown table and the wall time (``previous``'s included); its JSON is ``quadmimic
        bench transfer``'s file.

    Raises:
        TransferBenchError: No bundle or no robot, or ``previous`` was run with other
            settings or robots.
    """
    config = config or TransferConfig()
    if not bundles:
        raise TransferBenchError("no policy bundle to benchmark")
    if not robots:
        raise TransferBenchError("no robot to benchmark on")
    start = time.perf_counter()
    kept = _finished_rows(previous, config, robots)
    policies = [_Policy(Path(b)) for b in bundles]
    cache: dict[Path, _Policy] = {p.path.resolve(): p for p in policies}
    partners: dict[str, _Policy | None] = {}
    for p in policies:
        found = robust_partner(p.path, robust_search) if p.bundle.z_dim else None
        if partners is not None and p.name in partners:
            found = Path(partners[p.name])
        if found is not None and found.resolve() not in cache:
            cache[found.resolve()] = _Policy(found)
        partner = cache[found.resolve()] if found is not None else None
        if partner is not None and (partner.bundle.z_dim or partner.bundle.robot
                                    != p.bundle.robot):
            partner = None  # not a baseline of this policy
        partners[p.name] = partner
    total = plan_rollouts([(bool(p.bundle.z_dim) and p.bundle.estimator() is not None,
                            partners[p.name] is not None) for p in policies
                           if p.name not in kept], robots, config)
    done = [0]

    def tick(label: str) -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total, label)

    figures: dict[tuple[str, str, int, str], dict[str, Any]] = {}  # (bundle, robot, seed, z)

    def figure(pol: _Policy, rig: Rig, seed: int, z: np.ndarray | None,
               estimate: bool = False) -> dict[str, Any]:
        key = (str(pol.path.resolve()), rig.robot.name, seed, "estimate" if estimate else
               "none" if z is None else json.dumps(np.round(z, 12).tolist()))
        estimator = pol.bundle.estimator() if estimate else None
        if key not in figures:
            rollouts = []
            for i in range(config.eval_rollouts):
                rollouts.append(evaluation_rollout(pol.bundle, pol.actor, rig, z,
                                                   rollout_seed(seed, "eval", i), estimator))
                tick(f"{pol.name} on {rig.robot.name}")
            figures[key] = figure_of(rollouts)
        return {"seed": seed, **figures[key]}

    settings = {**dataclasses.asdict(config),
                "bundles": [str(p.path) for p in policies],
                "robust_partners": {k: (None if v is None else str(v.path))
                                    for k, v in partners.items()},
                **FIGURE_MEANINGS}
    before = previous.wall_seconds if previous is not None and kept else 0.0

    def result(rows: list[TransferRow], finished: list[str]) -> TransferResult:
        done_settings = {**settings, "finished": finished,
                         "complete": len(finished) == len(policies)}
        return TransferResult(settings=done_settings,
                              robots={r.name: robot_summary(r) for r in robots}, rows=rows,
                              markdown=markdown_table({"settings": done_settings,
                                                       "rows": rows}),
                              wall_seconds=before + time.perf_counter() - start)

    rows: list[TransferRow] = []
    finished: list[str] = []
    for pol in policies:
        if pol.name in kept:
            rows.extend(kept[pol.name])
            finished.append(pol.name)
            continue
        b = pol.bundle
        for robot in robots:
            per: dict[str, list[dict[str, Any]]] = {}
            partner = partners[pol.name]
            with Rig(robot, b.robot, config) as rig:
                for seed in config.seeds:
                    prior = None if not b.z_dim else np.zeros(b.z_dim)
                    per.setdefault("prior" if b.z_dim else "policy", []).append(
                        figure(pol, rig, seed, prior))
                    if b.z_dim and b.estimator() is not None:
                        per.setdefault("estimate", []).append(
                            figure(pol, rig, seed, None, estimate=True))
                    if b.z_dim and robot.held_out:
                        oracle = oracle_latent(b, robot)
                        if oracle is not None:
                            per.setdefault("oracle", []).append(
                                {**figure(pol, rig, seed, oracle), "z": oracle.tolist()})
                            if "estimate" in per:  # how far ẑ is from the oracle z
                                per["estimate"][-1] = {**per["estimate"][-1],
                                                       **z_errors(per["estimate"][-1], oracle)}
                        for k, z in enumerate(training_latents(b, seed,
                                                               config.spread_latents)):
                            per.setdefault("z_spread", []).append(
                                {**figure(pol, rig, seed, z), "z": z.tolist(), "index": k})
                        for name, fig in _adapted(pol, rig, seed, config, figure, tick):
                            per.setdefault(name, []).append(fig)
                    if partner is not None:
                        per.setdefault("robust", []).append(figure(partner, rig, seed, None))
            for name, per_seed in per.items():
                errors = [f["z_error"] for f in per_seed if f.get("z_error") is not None]
                rows.append(TransferRow(
                    bundle=pol.name, robot=robot.name, figure=name, latent=bool(b.z_dim),
                    **aggregate(per_seed), per_seed=per_seed,
                    **(spread_figures(per_seed) if name == "z_spread" else {}),
                    **({"z_error": float(np.mean(errors)), "z_error_prior": float(np.mean(
                        [f["z_error_prior"] for f in per_seed if "z_error_prior" in f]))}
                       if errors else {}),
                    robust_bundle=partner.name if name == "robust" and partner else None))
        finished.append(pol.name)
        if on_bundle is not None:
            on_bundle(result(rows, finished))
    return result(rows, finished)


FIGURE_MEANINGS: dict[str, str] = {
    "adapted": "the incumbent of the safe search (adaptation/adapt.py) after a budget of N "
               "search rollouts, scored on evaluation rollouts of seeds the search never used",
    "estimate": "acting with the bundle's online estimator (no search)",
    "return": "adaptation return (adaptation/returns.py): measurable reward terms from the "
              "robot's own (noisy) sensors, sum / planned steps",
    "fall": "safety trip or ground-truth roll/pitch > max_tilt (rad)",
    "progress": "ground-truth base displacement along the reference's displacement (turned "
                "to the start heading) / the reference's",
    "std": "sample std (ddof 1) over seeds of the per-seed means",
}
"""What the figures of the bench's JSON mean (written into its settings)."""


def load_partial(path: Path) -> TransferResult:
    """A transfer JSON file written by the bench, finished or not, to continue it.

    Args:
        path: The ``--json`` file of an earlier ``quadmimic bench transfer``.

    Returns:
        Its result; rows of bundles it had not finished are dropped.

    Raises:
        TransferBenchError: Not such a file (one line naming it).
    """
    try:
        data = json.loads(Path(path).read_text())
        settings, robots = data["settings"], data["robots"]
        finished = set(settings.get("finished", [Path(b).name for b in settings["bundles"]]))
        rows = [TransferRow(**r) for r in data["rows"] if r["bundle"] in finished]
        return TransferResult(settings=settings, robots=robots, rows=rows,
                              markdown=data.get("markdown", ""),
                              wall_seconds=float(data.get("wall_seconds", 0.0)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TransferBenchError(f"{path}: not a transfer benchmark file to continue "
                                 f"({type(exc).__name__}: {exc})") from None


def _differing(settings: dict[str, Any], other: dict[str, Any]) -> list[str]:
    """The :class:`TransferConfig` fields on which two runs' settings differ (as in JSON)."""
    return [f.name for f in dataclasses.fields(TransferConfig)
            if json.loads(json.dumps(settings.get(f.name)))
            != json.loads(json.dumps(other.get(f.name)))]


def merge_partials(parts: Sequence[TransferResult]) -> TransferResult:
    """One partial result from several runs of the same settings over different bundles.

    What lets the bench run on several machines (or cores) at once, each on some of the
    bundles with its own ``--json``, and go on as one: ``bench transfer --resume --merge``.

    Args:
        parts: :func:`load_partial` results; the first one's settings are the merged one's.

    Returns:
        Their finished bundles' rows (in order), ``finished`` their union, the wall times
        summed.

    Raises:
        TransferBenchError: No part; parts run with other settings or robots; a bundle
            finished in more than one part.
    """
    if not parts:
        raise TransferBenchError("nothing to merge")
    first = parts[0]
    rows: list[TransferRow] = []
    finished: list[str] = []
    for part in parts:
        differ = _differing(part.settings, first.settings)
        if differ:
            raise TransferBenchError(f"the files to merge were run with other settings "
                                     f"({', '.join(differ)})")
        if set(part.robots) != set(first.robots):
            raise TransferBenchError("the files to merge were run on other robots")
        done = [b for b in part.settings.get("finished", []) if b not in finished]
        twice = set(part.settings.get("finished", [])) & set(finished)
        if twice:
            raise TransferBenchError(f"finished in more than one file to merge: "
                                     f"{', '.join(sorted(twice))}")
        finished += done
        rows += [r for r in part.rows if r.bundle in done]
    settings = {**first.settings, "finished": finished, "complete": False}
    return TransferResult(settings=settings, robots=first.robots, rows=rows,
                          markdown=markdown_table({"settings": settings, "rows": rows}),
                          wall_seconds=sum(p.wall_seconds for p in parts))


def _finished_rows(previous: TransferResult | None, config: TransferConfig,
                   robots: Sequence[TransferRobot]) -> dict[str, list[TransferRow]]:
    """The rows of ``previous``'s finished bundles by bundle, checked against this run."""
    if previous is None:
        return {}
    differ = _differing(previous.settings, dataclasses.asdict(config))
    if differ:
        raise TransferBenchError(f"the file to continue was run with other settings "
                                 f"({', '.join(differ)}); use the same options or a new --json")
    if set(previous.robots) != {r.name for r in robots}:
        raise TransferBenchError(f"the file to continue was run on other robots "
                                 f"({', '.join(sorted(previous.robots))}); use the same "
                                 f"--robots or a new --json")
    kept: dict[str, list[TransferRow]] = {}
    for row in previous.rows:
        kept.setdefault(row.bundle, []).append(row)
    return kept


def oracle_latent(bundle: PolicyBundle, robot: TransferRobot) -> np.ndarray | None:
    """The encoder's mean for a test robot's true parameters: the ceiling of adaptation.

    The torque–speed scale is the dynamics key ``motor_speed_scale``; sensor noise is no
    parameter. None for a bundle without latent and for a robot whose difference no dynamics
    key describes (a MuJoCo contact model).
    """
    if not bundle.z_dim or robot.contact:
        return None
    params = {**robot.dynamics, "motor_speed_scale": robot.torque_speed}
    return bundle.encode(params)[0]


def z_errors(estimate: dict[str, Any], oracle: np.ndarray) -> dict[str, Any]:
    """How far the online estimate is from the oracle z on one robot, for one seed.

    Args:
        estimate: The seed's ``estimate`` figure (its rollouts carry ``mean_z_hat``).
        oracle: The encoder's z (z_dim,) of the robot's true parameters.

    Returns:
        ``z_error``: mean squared error per value of each rollout's mean ẑ against the oracle
        z, mean over rollouts (None when no rollout has an ẑ); ``z_error_prior``: that of
        the prior z = 0.
    """
    hats = [np.asarray(r["mean_z_hat"]) for r in estimate["rollouts"]
            if r.get("mean_z_hat") is not None]
    return {"z_error": float(np.mean([np.mean((h - oracle) ** 2) for h in hats]))
            if hats else None, "z_error_prior": float(np.mean(oracle ** 2))}


def spread_figures(per_z: list[dict[str, Any]]) -> dict[str, Any]:
    """How much the latent matters on a robot: returns across training latents.

    Args:
        per_z: One figure per (seed, latent), each with ``seed`` and ``return``.

    Returns:
        ``spread_min``, ``spread_max`` (of the per-latent returns, all seeds) and
        ``spread_std`` (std across latents within a seed, mean over seeds).
    """
    returns = [f["return"] for f in per_z]
    by_seed: dict[int, list[float]] = {}
    for f in per_z:
        by_seed.setdefault(f["seed"], []).append(f["return"])
    return {"spread_min": float(min(returns)), "spread_max": float(max(returns)),
            "spread_std": float(np.mean([sample_std(v) for v in by_seed.values()]))}


def _adapted(pol: _Policy, rig: Rig, seed: int, config: TransferConfig,
             figure: Callable[[_Policy, Rig, int, np.ndarray | None], dict[str, Any]],
             tick: Callable[[str], None]) -> list[tuple[str, dict[str, Any]]]:
    """The safe search on ``rig`` with seed ``seed``; its incumbent scored after each budget."""
    out = []
    searched: list[int] = []

    def reset(k: int) -> None:
        s = rollout_seed(seed, "search", k)
        rig.start("search", s)
        searched.append(s)

    adapt_cfg = AdaptConfig(rollouts=config.adapt_checkpoints[0], pairs=config.pairs,
                            rollout_seconds=config.rollout_seconds,
                            ramp_seconds=config.ramp_seconds, seed=seed)
    with tempfile.TemporaryDirectory(prefix="transfer_adapt_") as tmp:
        session = AdaptationSession(pol.path, rig.safe, Path(tmp) / "session", adapt_cfg,
                                    reset_robot=reset)
        for n in config.adapt_checkpoints:
            session.config = dataclasses.replace(session.config, rollouts=n)
            state = session.run(progress=lambda rec: tick(f"{pol.name} adapting on "
                                                          f"{rig.robot.name}"))
            z = state.incumbent
            fig = figure(pol, rig, seed, z, estimate=state.estimating)
            out.append((f"adapted_{n}", {
                **fig, "z": "estimate" if z is None else z.tolist(),
                "start_z": state.start.tolist(),
                "start": session.start_kind, "budget": n,
                "search_rollouts": len(session.records), "search_seeds": list(searched),
                "search_trips": sum(bool(r["trip"]) for r in session.records),
                "incumbent_changes": state.changes}))
    return out


def parse_ints(text: str, what: str) -> tuple[int, ...]:
    """Comma-separated integers (an option's value).

    Raises:
        TransferBenchError: Not integers.
    """
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise TransferBenchError(f"{what}: comma-separated integers, got {text!r}") from exc


__all__ = ["TransferResult", "TransferRow", "bench_transfer", "is_bundle", "merge_partials",
           "oracle_latent",
           "parse_ints", "plan_rollouts", "robust_partner", "shipped_bundles",
           "spread_figures", "training_latents"]
