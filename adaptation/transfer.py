"""The transfer benchmark: shipped policies on PyBullet, MuJoCo and held-out MuJoCo robots.

``quadmimic bench transfer`` runs :func:`bench_transfer`: every policy bundle on every test
robot (:class:`TransferRobot`): PyBullet at nominal dynamics (``pybullet_nominal``, the
training engine), MuJoCo at nominal dynamics (``mujoco_nominal``, the second engine), and the
held-out MuJoCo robots of a file (:func:`load_held_out`, ``data/dynamics/held_out_mujoco.json``:
payload, friction, latency, torque–speed, sensor noise). Per rollout it measures

* the **return**: the adaptation return (:func:`adaptation.returns.step_reward`, what a robot
  can measure from its own, possibly noisy, sensors), summed and divided by the planned steps;
* a **fall**: a safety trip, or a ground-truth body roll or pitch beyond
  :attr:`TransferConfig.max_tilt`;
* the **progress ratio**: the ground-truth base displacement (``backend.base_pose()``) along
  the reference's displacement over the planned rollout, over the reference's, the figure of
  :func:`sim_training.evaluate._progress` (the reference turned onto the robot's start heading,
  as the controller does).

Figures per bundle and robot: a latent bundle with the prior latent (zeros); on held-out robots
also the mean z of an :class:`~adaptation.adapt.AdaptationSession` run against that robot after
5, 10, 20 rollouts (:attr:`TransferConfig.adapt_checkpoints`); and the robust baseline bundle of
the same robot and motion (``<name>_robust`` beside it) when there is one. A bundle without a
latent gets one figure, ``policy``.

Fresh evaluation: every rollout starts from a reset, then gets a random shove (a horizontal
velocity of :attr:`TransferConfig.shove_speed` in a random direction at a random time early in
the rollout) and, on robots with sensor noise, noise from its own seed. A rollout's seed comes
from the (benchmark seed, stream, index) triple (:func:`rollout_seed`): the search's rollouts
use the ``search`` stream, evaluations the ``eval`` stream, so an adapted z is never scored on
the shoves and noise that selected it. Every figure of one seed uses the same evaluation seeds
(paired comparison). A figure per seed is the mean over :attr:`TransferConfig.eval_rollouts`
rollouts; the table gives mean ± standard deviation (sample, ddof 1) over seeds, the fall rate
over all evaluation rollouts, and the progress ratio mean ± std over seeds.

All robots run lockstep (``realtime=False``): as fast as the CPU allows.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from adaptation.adapt import AdaptationSession, AdaptConfig
from adaptation.returns import step_reward
from motion_retarget.errors import DynamicsError, QuadmimicError
from motion_retarget.kinematics import robot_model
from robot_deploy.controller import PolicyController
from robot_deploy.noise import NoisyRobot
from robot_deploy.robot import RobotState
from robot_deploy.safety import SafetyConfig, SafetyLayer
from robot_deploy.shove import ShovedRobot
from sim_training.bundle import PolicyBundle
from sim_training.dynamics import DYNAMICS_KEYS, NOMINAL, dynamics_from
from sim_training.evaluate import _progress
from sim_training.export import OnnxActor
from sim_training.geometry import quat_to_matrix, roll_pitch, yaw_matrix, yaw_of
from sim_training.noise import SensorNoise
from sim_training.randomization import RandomizationRanges

if TYPE_CHECKING:
    from robot_deploy.backends.mujoco import MujocoBackend
    from robot_deploy.backends.sim import SimBackend

NOMINAL_ROBOTS: tuple[str, ...] = ("pybullet_nominal", "mujoco_nominal")
"""Names of the two nominal test robots (PyBullet and MuJoCo at nominal dynamics)."""

STREAMS: dict[str, int] = {"search": 1, "eval": 2}
"""Seed streams: rollouts of an adaptation search, and evaluation rollouts."""

ROBOT_KEYS: tuple[str, ...] = ("name", "note", "dynamics", "sensor_noise", "torque_speed")
"""Keys of one held-out robot in a held-out file."""

FILE_KEYS: tuple[str, ...] = ("description", "robots")
"""Top-level keys of a held-out file."""


class TransferBenchError(QuadmimicError):
    """The transfer benchmark cannot run with these options (no bundle, unknown robot...)."""


# ----------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class TransferConfig:
    """Settings of :func:`bench_transfer`."""

    seeds: tuple[int, ...] = (0, 1, 2)
    """Benchmark seeds: each is the seed of the evaluation rollouts and of the adaptation."""
    rollout_seconds: float = 4.0
    """Policy time per rollout (s), evaluation and search alike."""
    ramp_seconds: float = 0.5
    """Start-up ramp to the default pose before each rollout (s)."""
    eval_rollouts: int = 3
    """Evaluation rollouts per figure and seed."""
    adapt_checkpoints: tuple[int, ...] = (5, 10, 20)
    """Search rollouts after which the session's mean z is evaluated (ascending)."""
    rollouts_per_update: int = 5
    """Search rollouts between AWR updates."""
    shove_speed: float = 0.3
    """Horizontal speed (m/s) added to the base once per rollout, in a random direction."""
    shove_window: tuple[float, float] = (0.2, 1.0)
    """Interval (s after the policy starts) in which the shove's time is drawn uniformly;
    clipped to the rollout."""
    max_tilt: float = 0.8
    """Ground-truth body roll or pitch (rad) beyond which a rollout counts as a fall."""

    def __post_init__(self) -> None:
        """Check the settings (:class:`TransferBenchError`)."""
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "adapt_checkpoints",
                           tuple(int(n) for n in self.adapt_checkpoints))
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise TransferBenchError("seeds: give at least one, without repeats")
        if not self.rollout_seconds > 0 or self.ramp_seconds < 0:
            raise TransferBenchError("rollout seconds must be > 0 and ramp seconds >= 0")
        if self.eval_rollouts < 1 or self.rollouts_per_update < 1:
            raise TransferBenchError("evaluation rollouts and rollouts per update must be >= 1")
        ckpt = self.adapt_checkpoints
        if any(n < 1 for n in ckpt) or list(ckpt) != sorted(set(ckpt)):
            raise TransferBenchError(f"adaptation rollout counts must be ascending and >= 1, "
                                     f"got {list(ckpt)}")
        lo, hi = self.shove_window
        if self.shove_speed < 0 or not 0 <= lo <= hi:
            raise TransferBenchError("shove speed must be >= 0 and its window 0 <= lo <= hi")


@dataclass(frozen=True)
class TransferRobot:
    """One test robot: a physics engine, dynamics, sensor noise and motor speed."""

    name: str
    """Name (a row of the table)."""
    engine: str = "mujoco"
    """Simulated backend: ``sim`` (PyBullet) or ``mujoco``."""
    dynamics: dict[str, float] = field(default_factory=lambda: dict(NOMINAL))
    """Complete dynamics dict (:mod:`sim_training.dynamics`)."""
    sensor_noise: SensorNoise = field(default_factory=SensorNoise)
    """Gaussian noise on every reading (:class:`~sim_training.noise.SensorNoise`)."""
    torque_speed: float = 1.0
    """Scale of the actuator's no-load and knee speeds of the torque–speed curve (MuJoCo)."""
    note: str = ""
    """What the robot stands for."""
    held_out: bool = False
    """From a held-out file (adaptation is run on it) rather than a nominal robot."""


def nominal_robots() -> list[TransferRobot]:
    """PyBullet and MuJoCo at nominal dynamics (:data:`NOMINAL_ROBOTS`)."""
    return [TransferRobot("pybullet_nominal", "sim", note="training engine, nominal dynamics"),
            TransferRobot("mujoco_nominal", "mujoco", note="second engine, nominal dynamics")]


def _number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def load_held_out(path: str | Path) -> list[TransferRobot]:
    """The held-out MuJoCo robots of a file.

    The file is a JSON object ``{"description": str, "robots": [...]}``; each robot is an
    object with ``name`` (unique), optional ``note``, ``dynamics`` (keys of
    :data:`~sim_training.dynamics.DYNAMICS_KEYS`, missing keys nominal), ``sensor_noise``
    (fields of :class:`~sim_training.noise.SensorNoise`: std of joint angle rad, joint speed
    rad/s, gyro rad/s, roll/pitch rad) and ``torque_speed`` (scale of the actuator's speeds,
    > 0, default 1).

    Raises:
        DynamicsError: Unreadable file, unknown key, wrong type or impossible value (one line,
            naming the file and the robot).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise DynamicsError(f"cannot read held-out robot file: {exc.strerror}", path) from exc
    except json.JSONDecodeError as exc:
        raise DynamicsError(f"not valid JSON: {exc.msg}", path, exc.lineno) from exc
    if not isinstance(data, dict) or not isinstance(data.get("robots"), list):
        raise DynamicsError('a held-out robot file holds {"robots": [...]}', path)
    if unknown := sorted(set(data) - set(FILE_KEYS)):
        raise DynamicsError(f"unknown key {unknown[0]!r}; known keys: {', '.join(FILE_KEYS)}",
                            path)
    robots: list[TransferRobot] = []
    for k, item in enumerate(data["robots"]):
        if not isinstance(item, dict):
            raise DynamicsError(f"robot {k} must be a JSON object", path)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise DynamicsError(f"robot {k} needs a non-empty string 'name'", path)
        where = f"robot {name!r}"
        if unknown := sorted(set(item) - set(ROBOT_KEYS)):
            raise DynamicsError(f"{where}: unknown key {unknown[0]!r}; known keys: "
                                f"{', '.join(ROBOT_KEYS)}", path)
        if name in NOMINAL_ROBOTS or name in {r.name for r in robots}:
            raise DynamicsError(f"{where}: the name is taken", path)
        dyn = item.get("dynamics", {})
        if not isinstance(dyn, dict):
            raise DynamicsError(f"{where}: dynamics must be a JSON object", path)
        dynamics = dynamics_from(dyn, source=f"{path}: {where}")
        noise_raw = item.get("sensor_noise", {})
        if not isinstance(noise_raw, dict):
            raise DynamicsError(f"{where}: sensor_noise must be a JSON object", path)
        known = [f.name for f in dataclasses.fields(SensorNoise)]
        if unknown := sorted(set(noise_raw) - set(known)):
            raise DynamicsError(f"{where}: unknown sensor_noise key {unknown[0]!r}; known "
                                f"keys: {', '.join(known)}", path)
        try:
            noise = SensorNoise(**noise_raw)
        except ValueError as exc:
            raise DynamicsError(f"{where}: {exc}", path) from exc
        speed = item.get("torque_speed", 1.0)
        if not _number(speed) or not math.isfinite(speed) or not 0.0 < speed <= 5.0:
            raise DynamicsError(f"{where}: torque_speed must be a number in (0, 5], "
                                f"got {speed!r}", path)
        note = item.get("note", "")
        if not isinstance(note, str):
            raise DynamicsError(f"{where}: note must be a string", path)
        robots.append(TransferRobot(name, "mujoco", dynamics, noise, float(speed), note,
                                    held_out=True))
    if not robots:
        raise DynamicsError("the file defines no robot", path)
    return robots


def outside_ranges(dynamics: dict[str, float],
                   ranges: RandomizationRanges | None = None) -> dict[str, dict[str, Any]]:
    """The dynamics keys whose value lies outside the training ranges.

    Args:
        dynamics: A (complete or partial) dynamics dict.
        ranges: Training ranges (default: :class:`RandomizationRanges` defaults).

    Returns:
        Key → ``{"value", "trained": [low, high]}`` for every key outside its range.
    """
    ranges = ranges or RandomizationRanges()
    out = {}
    for key in DYNAMICS_KEYS:
        if key not in dynamics:
            continue
        lo, hi = getattr(ranges, key)
        if not lo <= dynamics[key] <= hi:
            out[key] = {"value": dynamics[key], "trained": [lo, hi]}
    return out


def robot_summary(robot: TransferRobot) -> dict[str, Any]:
    """A test robot as JSON (non-nominal dynamics only; what lies outside training)."""
    return {"engine": robot.engine, "held_out": robot.held_out, "note": robot.note,
            "dynamics": {k: v for k, v in robot.dynamics.items() if v != NOMINAL[k]},
            "sensor_noise": dataclasses.asdict(robot.sensor_noise),
            "torque_speed": robot.torque_speed,
            "outside_training_ranges": outside_ranges(robot.dynamics),
            "beyond_training_also": [x for x, on in (
                ("sensor_noise (bundles trained without EnvConfig.sensor_noise)",
                 not robot.sensor_noise.silent),
                ("torque_speed (training: no torque-speed curve)", robot.torque_speed < 1.0))
                if on]}


# ----------------------------------------------------------------------------- robots under test
def rollout_seed(seed: int, stream: str, index: int) -> int:
    """The seed of rollout ``index`` of a stream (:data:`STREAMS`) of a benchmark seed."""
    seq = np.random.SeedSequence([int(seed), STREAMS[stream], int(index)])
    return int(seq.generate_state(1, np.uint32)[0])


class Rig:
    """A robot under test: backend → shoves → sensor noise → safety layer, and its seed log.

    Args:
        robot: The test robot.
        spec_name: The robot spec (the bundle's robot).
        config: Benchmark settings.
    """

    def __init__(self, robot: TransferRobot, spec_name: str, config: TransferConfig) -> None:
        self.robot = robot
        self.config = config
        self.backend = build_backend(robot, spec_name)
        self.shoved = ShovedRobot(self.backend)
        self.noisy = NoisyRobot(self.shoved, robot.sensor_noise)
        self.safe = SafetyLayer(self.noisy, SafetyConfig(max_tilt=config.max_tilt))
        self.used: list[tuple[str, int]] = []
        """(stream, seed) of every rollout started, in order."""

    def __enter__(self) -> Rig:
        self.backend.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.backend.close()

    def start(self, stream: str, seed: int) -> None:
        """Reset for a rollout: on its feet, noise from ``seed``, a shove planned from it."""
        cfg = self.config
        self.backend.reset_pose()
        self.noisy.reseed(seed)
        rng = np.random.default_rng([seed, 7])
        lo, hi = cfg.shove_window
        hi = min(hi, cfg.rollout_seconds)
        delay = cfg.ramp_seconds + rng.uniform(min(lo, hi), hi)
        angle = rng.uniform(-np.pi, np.pi)
        self.shoved.plan(self.backend.now() + delay,
                         cfg.shove_speed * np.array([np.cos(angle), np.sin(angle), 0.0]))
        self.used.append((stream, seed))


def build_backend(robot: TransferRobot, spec_name: str) -> SimBackend | MujocoBackend:
    """The lockstep simulated backend of a test robot (not yet connected).

    Raises:
        TransferBenchError: An engine other than ``sim``/``mujoco``, or a torque–speed scale
            on PyBullet (it has no torque–speed curve).
    """
    if robot.engine == "sim":
        if robot.torque_speed != 1.0:
            raise TransferBenchError(f"robot {robot.name!r}: PyBullet has no torque-speed curve")
        from robot_deploy.backends.sim import SimBackend

        return SimBackend(spec_name, robot.dynamics, realtime=False)
    if robot.engine == "mujoco":
        from motion_retarget.robots import get_robot
        from robot_deploy.backends.mujoco import MujocoBackend
        from robot_deploy.mujoco_model import actuator_config

        spec = get_robot(spec_name)
        act = actuator_config(spec)
        if robot.torque_speed != 1.0:
            speeds = act.max_speed_array(spec)[:3] * robot.torque_speed
            act = dataclasses.replace(act, max_speed=tuple(float(s) for s in speeds))
        return MujocoBackend(spec_name, robot.dynamics, realtime=False, actuator=act)
    raise TransferBenchError(f"robot {robot.name!r}: unknown engine {robot.engine!r}")


# ----------------------------------------------------------------------------- rollouts
def evaluation_rollout(bundle: PolicyBundle, actor: OnnxActor, rig: Rig,
                       z: np.ndarray | None, seed: int) -> dict[str, Any]:
    """One evaluation rollout from a reset with ``seed`` (stream ``eval``).

    Returns:
        ``seed``, ``return`` (measurable return, missing steps 0), ``fell``, ``progress``
        (None for a motion that does not travel), ``seconds`` (policy time run),
        ``stopped_by`` and ``trip``.
    """
    cfg = rig.config
    rig.start("eval", seed)
    rig.safe.rearm()
    ctl = PolicyController(bundle, rig.safe, z=z, actor=actor)
    rm = robot_model(bundle.robot)
    reward_cfg = bundle.config.env.reward
    offset_t = rm.base_offset.T
    start_pos, start_quat = rig.backend.base_pose()
    turn = float(yaw_of(quat_to_matrix(start_quat) @ offset_t)) - float(
        yaw_of(ctl.ref.state(0.0).root_rot))
    rewards: list[float] = []
    last = {"pos": start_pos, "tilt": 0.0}

    def on_step(t: float, state: RobotState, action: np.ndarray) -> None:
        rewards.append(step_reward(state, ctl.ref.state(t), rm, reward_cfg)[0])
        pos, quat = rig.backend.base_pose()
        last["pos"] = pos
        tilt = float(np.max(np.abs(roll_pitch(quat_to_matrix(quat) @ offset_t))))
        last["tilt"] = max(last["tilt"], tilt)

    result = ctl.run(cfg.rollout_seconds, ramp_seconds=cfg.ramp_seconds, on_step=on_step)
    result.raise_if_interrupted()
    planned = int(np.ceil(cfg.rollout_seconds / ctl.policy_dt - 1e-9))
    ref_shift = yaw_matrix(turn) @ (ctl.ref.state(planned * ctl.policy_dt).root_pos
                                    - ctl.ref.state(0.0).root_pos)
    robot_path = np.array([start_pos[:2], np.asarray(last["pos"])[:2]])
    ref_path = np.array([start_pos[:2], start_pos[:2] + ref_shift[:2]])
    return {"seed": seed, "return": float(sum(rewards) / planned),
            "fell": bool(result.trip is not None or last["tilt"] > cfg.max_tilt),
            "progress": _progress(robot_path, ref_path, planned * ctl.policy_dt),
            "seconds": result.seconds, "stopped_by": result.stopped_by, "trip": result.trip}


def evaluate_on_backend(bundle: PolicyBundle, engine: str, *,
                        dynamics: dict | str | Path | None = None, z: np.ndarray | None = None,
                        episodes: int = 5, seconds: float = 10.0,
                        seed: int = 0) -> dict[str, Any]:
    """Evaluate a policy through the deploy controller on a simulated robot backend.

    What ``quadmimic eval --backend mujoco`` runs: no shove, no sensor noise, episodes of
    ``seconds`` from a reset, the measurable return (as adaptation and the transfer bench
    score it), falls (safety trip or tilt) and progress along the reference.

    Args:
        bundle: The policy.
        engine: ``mujoco`` or ``sim`` (PyBullet behind the controller).
        dynamics: Dynamics params (dict or JSON file); default nominal.
        z: Latent (default: the bundle's, else the prior mean).
        episodes: Episodes.
        seconds: Policy time per episode (s).
        seed: First episode's seed.

    Returns:
        ``backend``, ``robot``, ``episodes``, ``seconds``, ``mean_return``, ``fall_rate``,
        ``mean_episode_seconds``, ``progress_ratio`` and ``per_episode``.
    """
    robot = TransferRobot("cli", engine, dynamics_from(dynamics))
    config = TransferConfig(seeds=(seed,), rollout_seconds=seconds, shove_speed=0.0)
    actor = OnnxActor(bundle)
    rows = []
    with Rig(robot, bundle.robot, config) as rig:
        for ep in range(episodes):
            rows.append(evaluation_rollout(bundle, actor, rig, z, seed + ep))
    figure = _figure(rows)
    return {"backend": engine, "robot": bundle.robot, "bundle": str(bundle.path),
            "dynamics": robot.dynamics, "episodes": episodes, "seconds": seconds,
            "mean_return": figure["return"], "fall_rate": figure["fall_rate"],
            "mean_episode_seconds": float(np.mean([r["seconds"] for r in rows])),
            "progress_ratio": figure["progress"], "per_episode": rows}


def _figure(rollouts: list[dict[str, Any]]) -> dict[str, Any]:
    """One seed's figure: means over its evaluation rollouts."""
    progress = [r["progress"] for r in rollouts if r["progress"] is not None]
    return {"return": float(np.mean([r["return"] for r in rollouts])),
            "fall_rate": float(np.mean([r["fell"] for r in rollouts])),
            "progress": float(np.mean(progress)) if progress else None,
            "eval_seeds": [r["seed"] for r in rollouts], "rollouts": rollouts}


def _std(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def aggregate(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std over seeds of the per-seed figures; fall rate over all rollouts."""
    returns = [s["return"] for s in per_seed]
    progress = [s["progress"] for s in per_seed if s["progress"] is not None]
    falls = [r["fell"] for s in per_seed for r in s["rollouts"]]
    return {"return_mean": float(np.mean(returns)), "return_std": _std(returns),
            "fall_rate": float(np.mean(falls)), "falls": int(sum(falls)),
            "rollouts": len(falls),
            "progress_mean": float(np.mean(progress)) if progress else None,
            "progress_std": _std(progress) if progress else None}


# ----------------------------------------------------------------------------- bundles
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


# ----------------------------------------------------------------------------- the benchmark
def select_robots(held_out: Sequence[TransferRobot], names: Sequence[str] | None
                  ) -> list[TransferRobot]:
    """Nominal and held-out robots, all or those named (in the given order).

    Raises:
        TransferBenchError: An unknown name.
    """
    every = {r.name: r for r in (*nominal_robots(), *held_out)}
    if not names:
        return list(every.values())
    if unknown := [n for n in names if n not in every]:
        raise TransferBenchError(f"unknown robot {unknown[0]!r}; available: "
                                 f"{', '.join(every)}")
    return [every[n] for n in names]


def plan_rollouts(policies: Sequence[tuple[bool, bool]], robots: Sequence[TransferRobot],
                  config: TransferConfig) -> int:
    """Rollouts a benchmark will run (for a progress bar), upper bound.

    Args:
        policies: (latent, has robust partner) per bundle.
        robots: Test robots.
        config: Settings.
    """
    per_fig = config.eval_rollouts * len(config.seeds)
    total = 0
    for latent, partner in policies:
        for robot in robots:
            total += per_fig * (1 + partner)
            if latent and robot.held_out:
                total += len(config.seeds) * config.adapt_checkpoints[-1]
                total += per_fig * len(config.adapt_checkpoints)
    return total


def bench_transfer(bundles: Sequence[str | Path], robots: Sequence[TransferRobot],
                   config: TransferConfig | None = None, *,
                   robust_search: Sequence[Path] = (),
                   progress: Callable[[int, int, str], None] | None = None) -> dict[str, Any]:
    """Run the transfer benchmark (see the module docstring).

    Args:
        bundles: Policy bundles (or runs).
        robots: Test robots (:func:`nominal_robots`, :func:`load_held_out`,
            :func:`select_robots`).
        config: Settings.
        robust_search: Folders where a latent bundle's ``<name>_robust`` is also looked for.
        progress: Called after every rollout with (done, planned total, what runs).

    Returns:
        ``settings``, ``robots`` (:func:`robot_summary` by name), ``rows`` (one per bundle ×
        robot × figure: ``bundle``, ``robot``, ``figure`` (prior, adapted_N, robust, policy),
        ``robust_bundle`` (for robust), :func:`aggregate` figures and ``per_seed`` details:
        ``seed``, ``return``, ``fall_rate``, ``progress``, ``eval_seeds``, ``rollouts``, and
        for adapted figures ``z`` (the session's mean), ``search_rollouts`` and
        ``search_seeds`` (the seeds of the rollouts the search actually ran)),
        ``markdown`` (:func:`markdown_table`) and ``wall_seconds``.

    Raises:
        TransferBenchError: No bundle or no robot.
    """
    config = config or TransferConfig()
    if not bundles:
        raise TransferBenchError("no policy bundle to benchmark")
    if not robots:
        raise TransferBenchError("no robot to benchmark on")
    start = time.perf_counter()
    policies = [_Policy(Path(b)) for b in bundles]
    cache: dict[Path, _Policy] = {p.path.resolve(): p for p in policies}
    partners: dict[str, _Policy | None] = {}
    for p in policies:
        found = robust_partner(p.path, robust_search) if p.bundle.z_dim else None
        if found is not None and found.resolve() not in cache:
            cache[found.resolve()] = _Policy(found)
        partner = cache[found.resolve()] if found is not None else None
        if partner is not None and (partner.bundle.z_dim or partner.bundle.robot
                                    != p.bundle.robot):
            partner = None  # not a baseline of this policy
        partners[p.name] = partner
    total = plan_rollouts([(bool(p.bundle.z_dim), partners[p.name] is not None)
                           for p in policies], robots, config)
    done = [0]

    def tick(label: str) -> None:
        done[0] += 1
        if progress is not None:
            progress(done[0], total, label)

    figures: dict[tuple[str, str, int, str], dict[str, Any]] = {}  # (bundle, robot, seed, z)

    def figure(pol: _Policy, rig: Rig, seed: int, z: np.ndarray | None) -> dict[str, Any]:
        key = (str(pol.path.resolve()), rig.robot.name, seed,
               "none" if z is None else json.dumps(np.round(z, 12).tolist()))
        if key not in figures:
            rollouts = []
            for i in range(config.eval_rollouts):
                rollouts.append(evaluation_rollout(pol.bundle, pol.actor, rig, z,
                                                   rollout_seed(seed, "eval", i)))
                tick(f"{pol.name} on {rig.robot.name}")
            figures[key] = _figure(rollouts)
        return {"seed": seed, **figures[key]}

    rows: list[dict[str, Any]] = []
    for pol in policies:
        b = pol.bundle
        for robot in robots:
            per: dict[str, list[dict[str, Any]]] = {}
            partner = partners[pol.name]
            with Rig(robot, b.robot, config) as rig:
                for seed in config.seeds:
                    prior = None if not b.z_dim else np.zeros(b.z_dim)
                    per.setdefault("prior" if b.z_dim else "policy", []).append(
                        figure(pol, rig, seed, prior))
                    if b.z_dim and robot.held_out:
                        for name, fig in _adapted(pol, rig, seed, config, figure, tick):
                            per.setdefault(name, []).append(fig)
                    if partner is not None:
                        per.setdefault("robust", []).append(figure(partner, rig, seed, None))
            for name, per_seed in per.items():
                row = {"bundle": pol.name, "robot": robot.name, "figure": name,
                       "latent": bool(b.z_dim), **aggregate(per_seed), "per_seed": per_seed}
                if name == "robust":
                    row["robust_bundle"] = partner.name
                rows.append(row)
    out: dict[str, Any] = {
        "settings": {**dataclasses.asdict(config),
                     "bundles": [str(p.path) for p in policies],
                     "robust_partners": {k: (None if v is None else str(v.path))
                                         for k, v in partners.items()},
                     "return": "adaptation return (adaptation/returns.py): measurable reward "
                               "terms from the robot's own (noisy) sensors, sum / planned steps",
                     "fall": f"safety trip or ground-truth roll/pitch > {config.max_tilt} rad",
                     "progress": "ground-truth base displacement along the reference's "
                                 "displacement (turned to the start heading) / the reference's",
                     "std": "sample std (ddof 1) over seeds of the per-seed means"},
        "robots": {r.name: robot_summary(r) for r in robots},
        "rows": rows,
    }
    out["markdown"] = markdown_table(out)
    out["wall_seconds"] = time.perf_counter() - start
    return out


def _adapted(pol: _Policy, rig: Rig, seed: int, config: TransferConfig,
             figure: Callable[[_Policy, Rig, int, np.ndarray | None], dict[str, Any]],
             tick: Callable[[str], None]) -> list[tuple[str, dict[str, Any]]]:
    """Adapt on ``rig`` with seed ``seed``; the session's mean z scored after each checkpoint."""
    out = []
    searched: list[int] = []
    counter = iter(range(1 << 30))

    def reset() -> None:
        s = rollout_seed(seed, "search", next(counter))
        rig.start("search", s)
        searched.append(s)

    adapt_cfg = AdaptConfig(rollouts=config.adapt_checkpoints[0],
                            rollouts_per_update=config.rollouts_per_update,
                            rollout_seconds=config.rollout_seconds,
                            ramp_seconds=config.ramp_seconds, seed=seed)
    with tempfile.TemporaryDirectory(prefix="transfer_adapt_") as tmp:
        session = AdaptationSession(pol.path, rig.safe, Path(tmp) / "session", adapt_cfg,
                                    reset_robot=reset)
        for n in config.adapt_checkpoints:
            session.config = dataclasses.replace(session.config, rollouts=n)
            state = session.run(progress=lambda rec: tick(f"{pol.name} adapting on "
                                                          f"{rig.robot.name}"))
            z = state.mean.copy()
            fig = figure(pol, rig, seed, z)
            out.append((f"adapted_{n}", {**fig, "z": z.tolist(), "search_rollouts": n,
                                         "search_seeds": list(searched)}))
    return out


# ----------------------------------------------------------------------------- the table
def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "—"
    prog = row["progress_mean"]
    return (f"{row['return_mean']:.3f} ± {row['return_std']:.3f} · "
            f"{100 * row['fall_rate']:.0f} % · "
            + ("—" if prog is None else f"{prog:.2f} ± {row['progress_std']:.2f}"))


def markdown_table(result: dict[str, Any]) -> str:
    """The benchmark as a README table: rows bundle × robot, columns the figures.

    Each cell is ``return mean ± std · fall rate · progress ratio mean ± std``.
    """
    rows = result["rows"]
    names: list[str] = []
    for r in rows:
        if r["figure"].startswith("adapted_") and r["figure"] not in names:
            names.append(r["figure"])
    names.sort(key=lambda n: int(n.removeprefix("adapted_")))
    columns = ["prior", *names, "robust"]
    s = result["settings"]
    lines = [
        f"Each cell: return mean ± std over {len(s['seeds'])} seeds · fall rate over all "
        f"evaluation rollouts ({s['eval_rollouts']} per seed, {s['rollout_seconds']:g} s) · "
        "progress ratio mean ± std. `prior`: z = 0 for a latent policy, the policy itself "
        "for a bundle without latent; `adapted_N`: the search mean after N rollouts, scored "
        "on fresh rollouts; `robust`: the robust baseline of the same robot and motion.",
        "",
        "| bundle | robot | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    keys: list[tuple[str, str]] = []
    for r in rows:
        if (r["bundle"], r["robot"]) not in keys:
            keys.append((r["bundle"], r["robot"]))
    for bundle, robot in keys:
        mine = {r["figure"]: r for r in rows if r["bundle"] == bundle and r["robot"] == robot}
        mine.setdefault("prior", mine.get("policy"))
        cells = [_cell(mine.get(c)) for c in columns]
        lines.append(f"| `{bundle}` | {robot} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def parse_ints(text: str, what: str) -> tuple[int, ...]:
    """Comma-separated integers (an option's value).

    Raises:
        TransferBenchError: Not integers.
    """
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise TransferBenchError(f"{what}: comma-separated integers, got {text!r}") from exc
