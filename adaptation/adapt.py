"""The safe latent search on a robot: start from the estimate, never end worse than it started.

A frozen latent policy acts with a z; this module searches z on the robot itself, rollout by
rollout, under rules that keep the search from doing harm:

* **Start.** Rollout 0 acts with the start choice: the bundle's online estimator (ẑ from the
  robot's own recent proprioception, :mod:`sim_training.estimator`), or the prior (z = 0) or
  a given z, acted with as is. That choice is the first *incumbent*. From the estimate, the
  incumbent keeps acting with the estimator, not with a z frozen from it: on the demo's
  held-out Go1 behind the emulator (2026-12-07), acting with the estimate returned
  0.229 ± 0.005 over 3 fresh rollouts, its start rollout's mean ẑ frozen 0.100 ± 0.093 with 2
  tilt trips. The start z, the centre of the search, is then the estimate's ẑ averaged over
  the start rollout (once its window is full).
* **The prior is the first challenger.** From the estimate (or a given z), round 0's
  candidate is the prior, z = 0, the policy's behaviour at the centre of its training
  dynamics: the estimator can be right about the robot and the policy still weak there. On
  the Go2 trot for real robots' differences (``bench transfer``, 3 seeds, 2026-12-07) the
  estimate returned 0.501 with 11 % falls on a low battery beyond the training ranges, where
  the prior returned 0.592 without a fall, and 0.062 (78 % falls) against the prior's 0.130
  at 50 ms latency. The prior then has to win its round as any candidate does; there the
  prior won round 0 on all 3 seeds of the low battery, and adapted_10 rose from 0.497 (11 %
  falls) to 0.592 (none).
* **A small neighbourhood.** Lengths are in units of the training latents' spread per
  dimension (:func:`latent_scale`). Each later round draws one candidate from
  N(mean, (spread·s)²) around the search mean, and the mean moves only by capped steps
  (``max_step``, the spread of the draws being fixed); neither leaves the box centre
  ± radius·s. The centre is the start z, or the prior once the prior is the incumbent.
* **Paired, fresh validation.** A round runs the incumbent and the candidate on the same
  ``pairs`` seeds (the robot's reset is seeded where it allows: shoves and sensor noise on a
  test rig; a real robot just alternates them), never seen before. The candidate replaces the
  incumbent only when the paired differences' mean is positive, at least ``min_gain_se``
  standard errors and at least ``min_gain`` (so that a deterministic simulator's zero error
  does not let a rounding-size gain through), and the candidate tripped no more often than
  the incumbent.
* **A trip** (the safety layer: tilt, joint limits, e-stop, ...) cuts the rollout short, and it
  is scored as the worst return (``worst_return``).
* **The result** is the incumbent, never the single best rollout: the estimate itself when no
  fixed z beat it.
* **The search mean** moves toward the advantage-weighted mean (:func:`adaptation.awr
  .awr_weights`) of the incumbent (advantage 0) and the candidates tried since it became the
  incumbent (advantage: their mean paired difference), or onto the new incumbent.

A *session* directory holds ``session.json`` (policy, motion, start choice, config),
``rollouts/NNNNN.npz`` (every step's state, action and reward of a rollout, written
atomically) and ``rollouts.jsonl`` (one line per finished rollout), appended only after the
rollout's file is complete. Everything a rollout does follows from the finished rollouts and
the seed, so a killed session resumes exactly: finished rollouts are replayed, the interrupted
one is run again, none is lost or duplicated.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adaptation.awr import awr_weights
from adaptation.config import AdaptConfig
from adaptation.returns import step_reward
from motion_retarget.kinematics import robot_model
from quadmimic.core.errors import ConfigError, QuadmimicError
from quadmimic.core.fileio import atomic_write, atomic_write_text, read_table
from robot_deploy.controller import PolicyController
from robot_deploy.robot import Robot, RobotState
from robot_deploy.safety import SafetyLayer
from sim_training.bundle import PolicyBundle
from sim_training.config import from_dict, to_dict
from sim_training.estimator import ZChoice, ZEstimator
from sim_training.export import OnnxActor

KINDS = ("start", "incumbent", "candidate")
"""What a rollout of a session was for."""


def training_latents(bundle: PolicyBundle, seed: int, count: int) -> list[np.ndarray]:
    """``count`` latents (z_dim,) of the training distribution (seeded by ``seed``).

    The encoder's means of dynamics drawn from the bundle's own training ranges.
    """
    if not bundle.z_dim or count <= 0:
        return []
    from sim_training.randomization import sample_dynamics

    rng = np.random.default_rng([int(seed), 99])
    return [bundle.encode(sample_dynamics(bundle.config.env.ranges, rng))[0]
            for _ in range(count)]


def latent_scale(bundle: PolicyBundle, count: int = AdaptConfig.scale_latents,
                 floor: float = 1e-3) -> np.ndarray:
    """The training latents' spread (z_dim,): their standard deviation per dimension.

    Args:
        bundle: A latent policy.
        count: Training latents drawn (seed 0, so a session's neighbourhood is fixed).
        floor: Smallest spread of a dimension (one the encoder does not use).
    """
    zs = np.array(training_latents(bundle, 0, count))
    return np.maximum(zs.std(axis=0, ddof=1), floor)


@dataclass(frozen=True)
class Round:
    """One round of the search: a candidate against the incumbent on the same seeds.

    Attributes:
        index: The round (0 is the first after the start rollout).
        incumbent: The incumbent's z (z_dim,) in that round; None: the online estimate.
        candidate: The candidate's z (z_dim,).
        seeds: The rollout seeds of its pairs.
        incumbent_scores: The incumbent's scores per pair.
        candidate_scores: The candidate's scores per pair.
        gain: Mean of the paired differences (candidate − incumbent).
        gain_se: Their standard error (sample std, ddof 1, / sqrt(pairs)).
        incumbent_trips: The incumbent's rollouts cut by a trip.
        candidate_trips: The candidate's.
        accepted: Whether the candidate became the incumbent.
    """

    index: int
    incumbent: np.ndarray | None
    candidate: np.ndarray
    seeds: list[int]
    incumbent_scores: list[float]
    candidate_scores: list[float]
    gain: float
    gain_se: float
    incumbent_trips: int
    candidate_trips: int
    accepted: bool

    def to_json(self) -> dict[str, Any]:
        """The round as JSON (summaries)."""
        return {"round": self.index, "incumbent": ("estimate" if self.incumbent is None
                                                   else self.incumbent.round(5).tolist()),
                "candidate": self.candidate.round(5).tolist(), "seeds": self.seeds,
                "incumbent_scores": self.incumbent_scores,
                "candidate_scores": self.candidate_scores, "gain": self.gain,
                "gain_se": self.gain_se, "incumbent_trips": self.incumbent_trips,
                "candidate_trips": self.candidate_trips, "accepted": self.accepted}


@dataclass
class SearchState:
    """Where a session's search is, replayed from its finished rollouts.

    Attributes:
        start: The start z (None before the start rollout finished): the given z, or from
            the estimate its start rollout's mean ẑ.
        centre: The centre of the search's box: the start z, or the prior (zeros) once the
            prior won a round.
        incumbent: The current incumbent's z; None before the start rollout and while the
            incumbent is the online estimate (:attr:`estimating`).
        mean: The search mean (None before the start rollout).
        rounds: The completed rounds, in order.
        scores: Every finished rollout's score, in order.
    """

    start: np.ndarray | None = None
    centre: np.ndarray | None = None
    incumbent: np.ndarray | None = None
    mean: np.ndarray | None = None
    rounds: list[Round] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    @property
    def started(self) -> bool:
        """Whether the start rollout finished."""
        return self.start is not None

    @property
    def estimating(self) -> bool:
        """Whether the incumbent is the online estimate (no fixed z has beaten it)."""
        return self.started and self.incumbent is None

    @property
    def changes(self) -> int:
        """How many times a candidate replaced the incumbent."""
        return sum(r.accepted for r in self.rounds)


def paired_gain(incumbent: Sequence[float], candidate: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of paired differences ``candidate − incumbent``.

    Returns:
        (mean, standard error); the error is inf for fewer than two pairs.
    """
    d = np.asarray(candidate, np.float64) - np.asarray(incumbent, np.float64)
    if d.size < 2:
        return float(d.mean()) if d.size else 0.0, float("inf")
    return float(d.mean()), float(d.std(ddof=1) / np.sqrt(d.size))


def accepts(gain: float, gain_se: float, incumbent_trips: int, candidate_trips: int,
            min_gain_se: float = AdaptConfig.min_gain_se,
            min_gain: float = AdaptConfig.min_gain) -> bool:
    """The incumbent rule: the candidate wins the paired comparison, and trips no more.

    A positive gain of at least ``min_gain_se`` standard errors and at least ``min_gain``
    (return), and no more trips than the incumbent on the same seeds.
    """
    return bool(gain > 0.0 and gain >= min_gain_se * gain_se and gain >= min_gain
                and candidate_trips <= incumbent_trips)


def replay(records: Sequence[dict[str, Any]], config: AdaptConfig,
           scale: np.ndarray | None = None) -> SearchState:
    """The search state after a session's finished rollouts (a pure function of them).

    Args:
        records: Finished rollouts, in order (``rollouts.jsonl``).
        config: The session's settings.
        scale: The training spread (z_dim,) for the search mean's step; None: the incumbent
            and the rounds only (the mean is then not tracked).
    """
    state = SearchState(scores=[float(r["score"]) for r in records])
    if not records:
        return state
    if records[0].get("kind") != "start":
        raise ConfigError("the first rollout of a session must be its start rollout")
    start = np.asarray(records[0]["z"], np.float64)
    online = records[0].get("acted_with") == "estimate"
    state.start, state.centre, state.mean = start, start.copy(), start.copy()
    state.incumbent = None if online else start.copy()
    tried: list[tuple[np.ndarray, float]] = []  # candidates since the incumbent last changed
    size = 2 * config.pairs
    for first in range(1, len(records) - size + 1, size):
        group = records[first:first + size]
        inc = [r for r in group if r["kind"] == "incumbent"]
        cand = [r for r in group if r["kind"] == "candidate"]
        inc.sort(key=lambda r: r["pair"])
        cand.sort(key=lambda r: r["pair"])
        gain, se = paired_gain([r["score"] for r in inc], [r["score"] for r in cand])
        inc_trips = sum(bool(r["trip"]) for r in inc)
        cand_trips = sum(bool(r["trip"]) for r in cand)
        z_cand = np.asarray(cand[0]["z"], np.float64)
        ok = accepts(gain, se, inc_trips, cand_trips, config.min_gain_se, config.min_gain)
        state.rounds.append(Round(len(state.rounds), _copy(state.incumbent), z_cand,
                                  [int(r["seed"]) for r in inc],
                                  [float(r["score"]) for r in inc],
                                  [float(r["score"]) for r in cand], gain, se, inc_trips,
                                  cand_trips, ok))
        if ok:
            state.incumbent, state.mean, tried = z_cand.copy(), z_cand.copy(), []
            if not z_cand.any():  # the prior won: the box moves onto it
                state.centre = z_cand.copy()
        else:
            tried.append((z_cand, gain))
            if scale is not None:
                incumbent = start if state.incumbent is None else state.incumbent
                state.mean = _mean_step(state.mean, incumbent, tried, scale, state.centre,
                                        config)
    return state


def _copy(z: np.ndarray | None) -> np.ndarray | None:
    return None if z is None else z.copy()


def _mean_step(mean: np.ndarray, incumbent: np.ndarray, tried: list[tuple[np.ndarray, float]],
               scale: np.ndarray, centre: np.ndarray, config: AdaptConfig) -> np.ndarray:
    """The search mean's capped step toward the AWR-weighted mean of incumbent and tries."""
    zs = np.array([incumbent, *[z for z, _ in tried]])
    adv = np.array([0.0, *[g for _, g in tried]])
    w = awr_weights(adv, config.awr.temperature, config.awr.max_weight, config.awr.normalize)
    move = (w @ zs - mean) / scale
    rms = float(np.sqrt(np.mean(move ** 2)))
    if rms > config.max_step:
        move *= config.max_step / rms
    return _in_box(mean + move * scale, centre, scale, config.radius)


def _in_box(z: np.ndarray, centre: np.ndarray, scale: np.ndarray, radius: float) -> np.ndarray:
    return np.clip(z, centre - radius * scale, centre + radius * scale)


@dataclass(frozen=True)
class Plan:
    """What rollout ``index`` of a session does.

    Attributes:
        index: The rollout's index in the session.
        kind: One of :data:`KINDS`.
        round: Its round (-1 for the start rollout).
        pair: Its pair in the round (0 for the start rollout).
        seed: The seed of the robot's reset (the start rollout: 0; pair p of round r:
            1 + r·pairs + p, the same for incumbent and candidate).
        z: The fixed z it acts with; None: acting with the estimator (the start rollout and
            the incumbent's while the incumbent is the estimate).
    """

    index: int
    kind: str
    round: int
    pair: int
    seed: int
    z: np.ndarray | None


class AdaptationSession:
    """One safe adaptation session on a robot (see the module docstring).

    Args:
        policy: The frozen latent policy bundle (or run directory).
        robot: The robot (wrapped in a safety layer here if it is not one).
        session_dir: Where the session lives; an existing session is resumed with its own
            settings and start choice.
        config: Settings of a new session.
        reset_robot: Puts the robot back on its feet between rollouts, given the rollout's
            seed (:attr:`Plan.seed`; a robot that cannot be seeded ignores it).
        motion: Motion to imitate (default: the policy's).
        realtime: Pace rollouts by wall clock (hardware, emulators).
        start: The start choice of a new session (:func:`~sim_training.estimator.choose_z`):
            the estimate, the prior or a fixed z. Default: the estimate when the bundle
            carries an estimator, else the prior.
    """

    def __init__(self, policy: str | Path, robot: Robot, session_dir: str | Path,
                 config: AdaptConfig | None = None,
                 reset_robot: Callable[[int], None] | None = None,
                 motion: str | Path | None = None, realtime: bool = False,
                 start: ZChoice | None = None) -> None:
        self.dir = Path(session_dir)
        self.realtime = realtime
        self.bundle = PolicyBundle.load(policy)
        if not self.bundle.z_dim:
            raise QuadmimicError("this policy has no latent to adapt (robust baseline)")
        meta = self.dir / "session.json"
        if meta.is_file():
            saved = read_table(meta, ConfigError, "adaptation session file")
            try:
                self.config = from_dict(AdaptConfig, saved["config"])
                motion = str(saved["motion"])
                kind, start_z = saved["start"]["kind"], saved["start"]["z"]
                if kind not in ("estimate", "prior", "fixed"):
                    raise ValueError(f"unknown start kind {kind!r}")
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise ConfigError(f"not an adaptation session: {exc!s} (config, motion and "
                                  "start expected)", meta) from None
        else:
            self.config = config or AdaptConfig()
            motion = str(motion or self.bundle.motion_path)
            if start is None:
                estimator = self.bundle.estimator()
                start = (ZChoice("estimate", None, estimator, "estimate") if estimator
                         else ZChoice("prior", np.zeros(self.bundle.z_dim), None, "prior"))
            kind = start.kind
            start_z = None if start.z is None else np.asarray(start.z, float).tolist()
            (self.dir / "rollouts").mkdir(parents=True, exist_ok=True)
            atomic_write_text(meta, json.dumps({
                "policy": str(policy), "motion": motion, "config": to_dict(self.config),
                "start": {"kind": kind, "z": start_z},
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2))
        self.start_kind = kind
        """How the session started: "estimate", "prior" or "fixed"."""
        self.start_z = None if start_z is None else np.asarray(start_z, np.float64)
        self.estimator: ZEstimator | None = None
        if kind == "estimate":
            self.estimator = self.bundle.estimator()
            if self.estimator is None:
                raise QuadmimicError("this session starts from the estimate, but the policy "
                                     "carries no estimator")
        elif self.start_z is None or self.start_z.shape != (self.bundle.z_dim,):
            raise ConfigError(f"the start z must have {self.bundle.z_dim} values", meta)
        self.motion = motion
        self.robot = robot if isinstance(robot, SafetyLayer) else SafetyLayer(robot)
        self.reset_robot = reset_robot
        self.rm = robot_model(self.bundle.robot)
        self.scale = latent_scale(self.bundle, self.config.scale_latents)
        """The training latents' spread (z_dim,): the unit of every length of the search."""
        self.records = finished_rollouts(self.dir)
        log = self.dir / "rollouts.jsonl"
        kept = "".join(json.dumps(r) + "\n" for r in self.records)
        if log.is_file() and log.read_text(encoding="utf-8", errors="replace") != kept:
            # What follows the finished rollouts (a torn line, a rollout whose file is
            # missing) goes, so that the next record is appended on a line of its own.
            atomic_write_text(log, kept)
        self._actor: OnnxActor | None = None

    # ------------------------------------------------------------------ the search
    def search_state(self) -> SearchState:
        """The search after every finished rollout."""
        return replay(self.records, self.config, self.scale)

    def plan(self, index: int, state: SearchState) -> Plan:
        """What rollout ``index`` does, given the state after the rollouts before it.

        Deterministic: the candidate of round r is drawn with a generator seeded by (seed, r).
        """
        if index == 0:
            return Plan(0, "start", -1, 0, 0, None if self.start_kind == "estimate"
                        else self.start_z)
        if state.mean is None or state.centre is None:
            raise ValueError("the start rollout must finish first")
        size = 2 * self.config.pairs
        rnd, slot = divmod(index - 1, size)
        pair = slot // 2
        # Alternate who goes first, so that a drift of the robot over a round is shared.
        candidate_turn = (slot % 2 == 1) if pair % 2 == 0 else (slot % 2 == 0)
        seed = 1 + rnd * self.config.pairs + pair
        if not candidate_turn:
            return Plan(index, "incumbent", rnd, pair, seed, _copy(state.incumbent))
        if rnd == 0 and self.challenges_prior:
            return Plan(index, "candidate", rnd, pair, seed, np.zeros(self.bundle.z_dim))
        rng = np.random.default_rng([self.config.seed, 5, rnd])
        draw = state.mean + self.config.spread * self.scale * rng.standard_normal(
            self.bundle.z_dim)
        cand = _in_box(draw, state.centre, self.scale, self.config.radius)
        return Plan(index, "candidate", rnd, pair, seed, cand)

    @property
    def challenges_prior(self) -> bool:
        """Whether round 0's candidate is the prior (a session not started from it)."""
        return self.config.challenge_prior and self.start_kind != "prior" and not (
            self.start_z is not None and not self.start_z.any())

    # ------------------------------------------------------------------ rollouts
    def rollout(self, plan: Plan) -> dict[str, Any]:
        """Run one planned rollout; returns its record (not yet appended)."""
        if self.reset_robot is not None:
            self.reset_robot(plan.seed)
        self.robot.rearm()
        if self._actor is None:
            self._actor = OnnxActor(self.bundle)
        estimator = self.estimator if plan.z is None else None
        controller = PolicyController(self.bundle, self.robot, motion=self.motion, z=plan.z,
                                      realtime=self.realtime, actor=self._actor,
                                      estimator=estimator)
        steps: list[tuple[float, RobotState, np.ndarray, float]] = []
        reward_cfg = self.bundle.config.env.reward

        def on_step(t: float, state: RobotState, action: np.ndarray) -> None:
            r, _ = step_reward(state, controller.ref.state(t), self.rm, reward_cfg)
            steps.append((t, state, action, r))

        result = controller.run(self.config.rollout_seconds,
                                ramp_seconds=self.config.ramp_seconds, on_step=on_step)
        result.raise_if_interrupted()  # a cut rollout is not recorded; the session resumes
        planned = int(np.ceil(self.config.rollout_seconds / controller.policy_dt - 1e-9))
        rewards = np.array([s[3] for s in steps]) if steps else np.zeros(0)
        ret = float(rewards.sum() / planned)
        if plan.z is not None:
            z = np.asarray(plan.z, float)
        else:  # acting with the estimate: the mean ẑ of this rollout (the prior if it never
            # acted), the start z of a start rollout
            mean = result.mean_z_hat()
            z = np.zeros(self.bundle.z_dim) if mean is None else mean
        tripped = result.trip is not None
        return {"kind": plan.kind, "round": plan.round, "pair": plan.pair, "seed": plan.seed,
                "z": z.tolist(), "acted_with": "estimate" if plan.z is None else "fixed",
                "return": ret, "score": self.config.worst_return if tripped else ret,
                "steps": len(steps), "planned_steps": planned,
                "stopped_by": result.stopped_by, "trip": result.trip, "_steps": steps,
                "_z_hats": result.z_hats}

    def _append(self, rec: dict[str, Any]) -> dict[str, Any]:
        index = len(self.records)
        steps = rec.pop("_steps")
        z_hats = rec.pop("_z_hats")
        name = f"rollouts/{index:05d}.npz"

        def write(f: Any) -> None:
            np.savez(f, t=np.array([s[0] for s in steps]),
                     q=np.array([s[1].q for s in steps]).reshape(-1, 12),
                     dq=np.array([s[1].dq for s in steps]).reshape(-1, 12),
                     quat=np.array([s[1].quat for s in steps]).reshape(-1, 4),
                     gyro=np.array([s[1].gyro for s in steps]).reshape(-1, 3),
                     action=np.array([s[2] for s in steps]).reshape(-1, 12),
                     reward=np.array([s[3] for s in steps]), z=np.asarray(rec["z"]),
                     z_hat=np.array(z_hats).reshape(-1, self.bundle.z_dim))

        atomic_write(self.dir / name, write)
        rec = {"index": index, "file": name, **rec}
        with (self.dir / "rollouts.jsonl").open("a") as f:
            f.write(json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.records.append(rec)
        return rec

    @property
    def planned(self) -> int:
        """Rollouts the session runs in all (whole rounds within the budget)."""
        return self.config.rollouts_used()

    def run(self, progress: Callable[[dict[str, Any]], None] | None = None) -> SearchState:
        """Run the remaining rollouts (resuming where the session stopped)."""
        while len(self.records) < self.planned:
            plan = self.plan(len(self.records), self.search_state())
            rec = self._append(self.rollout(plan))
            if progress is not None:
                progress(rec)
        return self.search_state()


def finished_rollouts(session_dir: str | Path) -> list[dict[str, Any]]:
    """The records of a session's finished rollouts, in order (``rollouts.jsonl``).

    A record: ``index``, ``file`` (its steps, relative to the session), ``kind``, ``round``,
    ``pair``, ``seed``, ``z``, ``return``, ``score``, ``stopped_by``, ``trip``, ... Blank
    lines are skipped. Reading stops at a torn last line or at a record whose index is out of
    turn or whose file is missing (that rollout did not finish). An empty list when the
    session has no log yet.

    Raises:
        ConfigError: A line before the last that is not a rollout record (located).
    """
    session_dir = Path(session_dir)
    path = session_dir / "rollouts.jsonl"
    if not path.is_file():
        return []
    records: list[dict[str, Any]] = []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            rec["z"] = [float(v) for v in rec["z"]]
            rec["score"], rec["kind"] = float(rec["score"]), str(rec["kind"])
            rec["index"], rec["file"] = int(rec["index"]), str(rec["file"])
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            if number == len(lines):  # a torn last line: that rollout did not finish
                break
            raise ConfigError('not a rollout record ({"index": i, "file": ..., "z": [...], '
                              '"score": x, "kind": ...})', path, number) from None
        if rec["index"] != len(records) or not (session_dir / rec["file"]).is_file():
            break
        records.append(rec)
    return records


def session_latent(session_dir: str | Path) -> np.ndarray | None:
    """A session's result: its incumbent z (z_dim,) after its finished rollouts.

    The start choice after the start rollout, then each round's winner by the incumbent rule
    (never the single best rollout); the records as :func:`finished_rollouts` reads them.
    None when the result is the online estimate (a session that started from it and where no
    fixed z beat it): act with the bundle's estimator.

    Raises:
        QuadmimicError: ``session_dir`` is no adaptation session (no ``rollouts.jsonl``), or
            it has no finished rollout yet.
        ConfigError: A line (not the last) that is not a rollout record, located; a session
            file that cannot be read.
    """
    session_dir = Path(session_dir)
    if not (session_dir / "rollouts.jsonl").is_file():
        raise QuadmimicError(f"{session_dir} is not an adaptation session (no rollouts.jsonl)")
    records = finished_rollouts(session_dir)
    if not records:
        raise QuadmimicError(f"{session_dir} has no finished rollout yet")
    meta = read_table(session_dir / "session.json", ConfigError, "adaptation session file")
    try:
        config = from_dict(AdaptConfig, meta["config"])
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"not an adaptation session: {exc!s}",
                          session_dir / "session.json") from None
    return replay(records, config).incumbent


def latent_return(bundle: PolicyBundle, robot: Robot, z: np.ndarray | None, *,
                  rollouts: int = 3, seconds: float = 4.0, ramp_seconds: float = 0.5,
                  reset_robot: Callable[[], None] | None = None,
                  motion: str | Path | None = None, realtime: bool = False,
                  estimator: ZEstimator | None = None) -> dict[str, Any]:
    """Returns of ``bundle`` with a fixed latent ``z`` (or its estimator) on ``robot``.

    ``z`` None uses the prior mean (zeros) for a latent policy and nothing for a baseline,
    or with ``estimator`` its online ẑ. Returns are computed exactly as in an adaptation
    session (a trip is not scored as the worst here: the return as measured).

    Returns:
        ``mean``, ``std`` (sample, ddof 1), ``returns`` (per rollout), ``trips`` (rollouts
        cut by the safety layer) and, with the estimator, ``mean_z_hat``.
    """
    safe = robot if isinstance(robot, SafetyLayer) else SafetyLayer(robot)
    rm = robot_model(bundle.robot)
    totals, trips, z_hats = [], 0, []
    actor = OnnxActor(bundle)
    for _ in range(rollouts):
        if reset_robot is not None:
            reset_robot()
        safe.rearm()
        controller = PolicyController(bundle, safe, motion=motion, z=z, realtime=realtime,
                                      actor=actor, estimator=estimator)
        rewards: list[float] = []

        def on_step(t: float, state: RobotState, action: np.ndarray,
                    ctl: PolicyController = controller, acc: list[float] = rewards) -> None:
            acc.append(step_reward(state, ctl.ref.state(t), rm, bundle.config.env.reward)[0])

        result = controller.run(seconds, ramp_seconds=ramp_seconds, on_step=on_step)
        result.raise_if_interrupted()
        planned = int(np.ceil(seconds / controller.policy_dt - 1e-9))
        totals.append(sum(rewards) / planned)
        trips += result.trip is not None
        if (m := result.mean_z_hat()) is not None:
            z_hats.append(m)
    out = {"mean": float(np.mean(totals)),
           "std": float(np.std(totals, ddof=1)) if len(totals) > 1 else 0.0,
           "returns": [float(v) for v in totals], "trips": trips}
    if z_hats:
        out["mean_z_hat"] = np.mean(z_hats, axis=0).round(4).tolist()
    return out


__all__ = ["KINDS", "AdaptationSession", "Plan", "Round", "SearchState", "accepts",
           "finished_rollouts", "latent_return", "latent_scale", "paired_gain", "replay",
           "session_latent", "training_latents"]
