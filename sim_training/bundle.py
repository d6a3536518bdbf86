"""Policy bundles: a directory with everything eval, export, adapt and deploy need.

Files: ``manifest.json`` (format, versions, robot, sizes, provenance), ``config.json`` (the
frozen training config: env, model, PPO), ``policy.pt`` (state dict; loaded with
``torch.load(weights_only=True)``, so a bundle never executes code), ``normalization.npz``
(observation statistics), ``motion.txt`` (the reference motion), ``curve.json`` (learning
curve), and optionally ``z.json`` (a fixed latent, e.g. from adaptation) and
``estimator.pt`` + ``estimator.json`` (the online z estimator of a latent policy,
:mod:`sim_training.estimator`). A training run directory is accepted wherever a bundle is: its
newest checkpoint is used.
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch as th

from quadmimic.core.errors import BundleError
from sim_training.config import TrainConfig, from_dict, save_config, to_dict
from sim_training.dynamics import DYNAMICS_KEYS, LIMITS, dynamics_from, dynamics_vector
from sim_training.observations import observation_size
from sim_training.policy import LatentActorCriticPolicy, dynamics_normaliser
from sim_training.randomization import encoder_keys

if TYPE_CHECKING:
    from sim_training.estimator import ZEstimator

FORMAT = "quadmimic-policy-bundle"
VERSION = 1
_UNSET = object()
FILES = ("manifest.json", "config.json", "policy.pt", "normalization.npz", "motion.txt")
ESTIMATOR_FILES = ("estimator.pt", "estimator.json", "estimator.png")
"""The estimator's files a bundle may carry (copied along when a bundle is re-written)."""


def parse_latent(text: str | None) -> np.ndarray | None:
    """A latent from the command line (``--z``): numbers separated by commas or spaces.

    Args:
        text: The option's value; None: no latent given.

    Returns:
        (k,) the latent, or None.

    Raises:
        BundleError: Not numbers, or not finite.
    """
    if text is None:
        return None
    try:
        values = np.array([float(v) for v in text.replace(",", " ").split()])
    except ValueError as exc:
        raise BundleError(f"--z must be numbers separated by commas, got {text!r}") from exc
    if not np.all(np.isfinite(values)):
        raise BundleError("--z values must be finite")
    return values


def _versions() -> dict[str, str]:
    import stable_baselines3

    return {"python": platform.python_version(), "torch": th.__version__,
            "stable_baselines3": stable_baselines3.__version__, "numpy": np.__version__}


def _reason(exc: BaseException) -> str:
    """The first line of an exception's message, at most 160 characters."""
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:160]


def read_json(path: str | Path) -> Any:
    """A JSON file of a bundle, run or checkpoint.

    Raises:
        BundleError: The file is missing, unreadable or not valid JSON (named, with the line).
    """
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError("file is missing", path) from None
    except UnicodeDecodeError:
        raise BundleError("not a text file (JSON expected)", path) from None
    except json.JSONDecodeError as exc:
        raise BundleError(f"not valid JSON: {exc.msg}", path, exc.lineno) from None
    except OSError as exc:
        raise BundleError(f"cannot read: {exc.strerror}", path) from None


def read_train_config(path: str | Path) -> TrainConfig:
    """The training config in a bundle's, run's or checkpoint's ``config.json``.

    Raises:
        BundleError: Not valid JSON, or not a training config (named).
    """
    data = read_json(path)
    try:
        return from_dict(TrainConfig, data)
    except (AttributeError, TypeError, ValueError) as exc:
        raise BundleError(f"not a training config: {_reason(exc)}", path) from None


def load_weights(path: str | Path) -> dict[str, th.Tensor]:
    """A ``policy.pt`` state dict, read with ``weights_only`` (never executes code).

    Raises:
        BundleError: The file is truncated, corrupt or not a state dict (named).
    """
    import zipfile

    path = Path(path)
    if path.is_file() and not zipfile.is_zipfile(path):  # torch's own message is misleading
        raise BundleError("not a torch file (torch.save writes a zip archive; this is not "
                          "one: truncated or overwritten?)", path)
    try:
        state = th.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise BundleError("file is missing", path) from None
    except Exception as exc:  # torch raises many kinds for a bad file: all are format errors
        raise BundleError(f"not a readable torch state dict: {_reason(exc)}", path) from None
    if not isinstance(state, dict):
        raise BundleError("not a state dict", path)
    return state


def load_normalization(path: str | Path,
                       keys: tuple[str, ...] = ("obs_mean", "obs_var", "clip_obs", "epsilon")
                       ) -> dict[str, np.ndarray]:
    """The arrays of a ``normalization.npz`` (observation statistics).

    Args:
        path: The file.
        keys: Arrays it must hold.

    Raises:
        BundleError: The file is missing, corrupt, or lacks one of ``keys`` (named).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except FileNotFoundError:
        raise BundleError("file is missing", path) from None
    except Exception as exc:  # zipfile, numpy and OS errors of a corrupt archive
        raise BundleError(f"not a readable .npz archive: {_reason(exc)}", path) from None
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise BundleError(f"holds no {', '.join(missing)}", path)
    return arrays


def _run_manifest(run: Path, config: TrainConfig, state: dict[str, Any]) -> dict[str, Any]:
    """The manifest of a bundle made from a run's checkpoint (its ``state.json``)."""
    return {
        "format": FORMAT, "version": VERSION, "robot": config.robot,
        "latent": config.latent, "z_dim": config.model.z_dim if config.latent else 0,
        "obs_size": observation_size(config.env.history, config.env.future_steps,
                                     config.env.commands.enabled),
        "action_size": 12, "dynamics_keys": list(encoder_keys(config.env.ranges)),
        "samples": state["num_timesteps"], "train_wall_seconds": state["wall_seconds"],
        "randomization_fraction": state["randomization_fraction"],
        "source_run": str(run), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "versions": _versions(),
    }


def lineage_of(source: str | Path) -> list[dict[str, Any]]:
    """The learning curve that led to a run, one of its checkpoints or a bundle, in samples.

    ``source`` is a run (its newest checkpoint), one checkpoint directory of a run
    (``RUN/checkpoints/NNN``: the run's curve up to it) or a bundle. Samples are totals over
    the whole lineage. Rows carry ``from`` (the run they come from), oldest first; a run's
    own rows follow the lineage it was initialised from (its ``lineage.json``, written when
    it started). Empty when ``source`` cannot be read.
    """
    src = Path(source)
    if (src / "curve.json").is_file() and (src / "manifest.json").is_file():
        return read_json(src / "curve.json")  # a bundle: already in total
    if (src / "state.json").is_file() and src.parent.name == "checkpoints":
        run = src.parent.parent  # one checkpoint of a run: the run's curve up to it
        earlier = _earlier(run)
        return earlier + _own_rows(run, read_json(src / "state.json")["curve"], earlier)
    if not (src / "LATEST").is_file():
        return []
    ckpt = src / "checkpoints" / (src / "LATEST").read_text().strip()
    if not (ckpt / "state.json").is_file():
        return []
    earlier = _earlier(src)
    return earlier + _own_rows(src, read_json(ckpt / "state.json")["curve"], earlier)


def _own_rows(run: Path, curve: list[dict[str, Any]],
              earlier: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A run's own curve rows in total samples (after ``earlier``), marked as its own."""
    offset = earlier[-1]["timesteps"] if earlier else 0.0
    return [{**row, "timesteps": row["timesteps"] + offset, "from": str(run)} for row in curve]


def _earlier(run: Path) -> list[dict[str, Any]]:
    """What came before a run: its ``lineage.json``, else its ``init_from`` read now."""
    if (run / "lineage.json").is_file():
        return read_json(run / "lineage.json")
    config = read_train_config(run / "config.json")
    return [] if config.init_from is None else lineage_of(config.init_from)


THRESHOLD = ("no fall in the nominal evaluations at checkpoints, episodes of the full "
             "length, pose term >= 0.6, progress along the reference >= 0.85 where it "
             "travels, and forward, lateral and yaw tracking >= 0.85 where it moves")
"""The tracking threshold whose samples and wall time every bundle reports."""


def threshold_figures(curve: list[dict[str, Any]], episode_seconds: float) -> dict[str, Any]:
    """Samples and wall time of a run (its own curve) to the tracking threshold.

    Read from the evaluations at nominal dynamics at checkpoints (``eval_nominal_*``); a run
    whose evaluations predate the progress or tracking figure is judged without it.

    Args:
        curve: The run's own curve rows (samples counted from its start).
        episode_seconds: The episode limit (s).

    Returns:
        ``threshold`` (its definition), ``samples_to_threshold`` and
        ``wall_seconds_to_threshold`` (None if it was not reached).
    """
    out: dict[str, Any] = {"threshold": THRESHOLD, "samples_to_threshold": None,
                           "wall_seconds_to_threshold": None}
    for row in curve:
        if "eval_nominal_seconds" not in row:
            continue
        progress = row.get("eval_nominal_progress")
        tracking = row.get("eval_nominal_tracking")
        length = row.get("eval_nominal_length",
                         row["eval_nominal_seconds"] / episode_seconds)
        if (row["eval_nominal_fall_rate"] == 0.0 and length >= 0.99
                and row["eval_nominal_pose"] >= 0.6 and (progress is None or progress >= 0.85)
                and (tracking is None or tracking >= 0.85)):
            out["samples_to_threshold"] = row["timesteps"]
            out["wall_seconds_to_threshold"] = row["wall_seconds"]
            break
    return out


def write_bundle(run_dir: str | Path, out: str | Path, *, z: np.ndarray | None = None,
                 extra: dict[str, Any] | None = None) -> Path:
    """Write a bundle from a run's newest checkpoint (written to a temp dir, then renamed).

    Args:
        run_dir: Training run directory (or an existing bundle, to copy it with a new z).
        out: Bundle directory to create (replaced if it exists).
        z: Optional fixed latent (z_dim,) stored as ``z.json``.
        extra: Extra manifest entries.

    Returns:
        The bundle directory.
    """
    src = Path(run_dir)
    out = Path(out)
    tmp = out.parent / f".{out.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _write_bundle_files(src, out, tmp, z, extra)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # nothing half-written stays behind
        raise
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def _write_bundle_files(src: Path, out: Path, tmp: Path, z: np.ndarray | None,
                        extra: dict[str, Any] | None) -> None:
    """The files of :func:`write_bundle`, written into ``tmp``."""
    tmp.mkdir(parents=True)
    if (src / "manifest.json").is_file():
        from sim_training.evaluate import own_command_files

        for name in (*FILES, "curve.json", "learning_curve.png", "eval.json", "rollout.gif",
                     "strip.png", *own_command_files(), *ESTIMATOR_FILES):
            if (src / name).exists():
                shutil.copyfile(src / name, tmp / name)
        manifest = read_json(src / "manifest.json")
    else:
        latest = src / "LATEST"
        if not latest.is_file():
            raise BundleError("no checkpoint yet (no LATEST file)", src)
        ckpt = src / "checkpoints" / latest.read_text().strip()
        config = read_train_config(src / "config.json")
        state = read_json(ckpt / "state.json")
        shutil.copyfile(ckpt / "policy.pt", tmp / "policy.pt")
        shutil.copyfile(ckpt / "normalization.npz", tmp / "normalization.npz")
        shutil.copyfile(src / "motion.txt", tmp / "motion.txt")
        save_config(config, tmp / "config.json")
        earlier = _earlier(src)
        curve = earlier + _own_rows(src, state["curve"], earlier)
        (tmp / "curve.json").write_text(json.dumps(
            [{k: round(v, 6) if isinstance(v, float) else v for k, v in row.items()}
             for row in curve], separators=(",", ":")))
        if curve:
            from sim_training.plots import learning_curve_png

            learning_curve_png(curve, tmp / "learning_curve.png",
                               title=f"{config.robot}: {Path(config.motion).stem}")
        manifest = _run_manifest(src, config, state)
        manifest.update(threshold_figures(state["curve"], config.env.episode_seconds))
        if config.init_from is not None:
            manifest["init_from"] = config.init_from
            manifest["samples_including_init"] = (
                state["num_timesteps"] + earlier[-1]["timesteps"] if earlier else None)
    if z is not None:
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        if z.shape != (manifest["z_dim"],) or not np.all(np.isfinite(z)):
            raise BundleError(f"z must be {manifest['z_dim']} finite numbers", out)
        (tmp / "z.json").write_text(json.dumps({"z": z.tolist()}))
    manifest.update(extra or {})
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))


@dataclass
class PolicyBundle:
    """A loaded policy: deterministic actions from raw observations.

    Attributes:
        path: The bundle (or run) directory.
        config: The training config.
        manifest: The manifest dict.
        policy: The SB3 policy module (eval mode, CPU).
        obs_mean: (n_obs,) observation mean. obs_var: (n_obs,) variance.
        z: Fixed latent (z_dim,) or None (then the encoder's mean of the given dynamics).
    """

    path: Path
    config: TrainConfig
    manifest: dict[str, Any]
    policy: LatentActorCriticPolicy
    obs_mean: np.ndarray
    obs_var: np.ndarray
    clip_obs: float
    epsilon: float
    z: np.ndarray | None
    loaded_estimator: Any = field(default=None, repr=False, compare=False)
    """The estimator once :meth:`estimator` has read it (``_UNSET`` before)."""

    def __post_init__(self) -> None:
        """Nothing read yet: :meth:`estimator` reads the files on first use."""
        if self.loaded_estimator is None:
            self.loaded_estimator = _UNSET

    @classmethod
    def load(cls, path: str | Path) -> PolicyBundle:
        """Load a bundle directory, or a training run's newest checkpoint.

        Raises:
            BundleError: Missing or inconsistent files (named).
        """
        path = Path(path)
        if not path.is_dir():
            raise BundleError("not a directory", path)
        files = path
        if not (path / "manifest.json").is_file() and (path / "LATEST").is_file():
            # A run: its newest checkpoint, read in place (the run keeps motion and config).
            files = path / "checkpoints" / (path / "LATEST").read_text().strip()
            for name in ("policy.pt", "normalization.npz", "state.json"):
                if not (files / name).is_file():
                    raise BundleError(f"checkpoint file {name} is missing", files)
            config = read_train_config(path / "config.json")
            manifest = _run_manifest(path, config, read_json(files / "state.json"))
        else:
            for name in FILES:
                if not (path / name).is_file():
                    raise BundleError(f"bundle file {name} is missing", path)
            manifest = read_json(path / "manifest.json")
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise BundleError(f"not a {FORMAT} manifest", path / "manifest.json")
            missing = [k for k in ("robot", "obs_size", "z_dim") if k not in manifest]
            if missing:
                raise BundleError(f"manifest lacks {', '.join(missing)}", path / "manifest.json")
            config = read_train_config(path / "config.json")
        policy = build_policy(config)
        state = load_weights(files / "policy.pt")
        try:
            policy.load_state_dict(state)
        except (RuntimeError, ValueError) as exc:
            raise BundleError(f"does not fit the config: {_reason(exc)}",
                              files / "policy.pt") from None
        policy.set_training_mode(False)
        data = load_normalization(files / "normalization.npz")
        mean, var = data["obs_mean"], data["obs_var"]
        clip, eps = float(data["clip_obs"]), float(data["epsilon"])
        if mean.shape != (manifest["obs_size"],):
            raise BundleError("does not match obs_size", files / "normalization.npz")
        z = None
        if (path / "z.json").is_file():
            z = _read_z(path / "z.json", int(manifest["z_dim"]))
        return cls(path, config, manifest, policy, mean, var, clip, eps, z)

    def estimator(self) -> ZEstimator | None:
        """The bundle's online z estimator (``estimator.json`` + ``estimator.pt``), loaded once.

        Returns:
            None when the folder holds neither file (no estimator was trained for it, or the
            policy has no latent).

        Raises:
            BundleError: One located line when one file is there without the other, either is
                unreadable, or they do not fit this policy (another latent size, another
                ``policy.pt``).
        """
        if self.loaded_estimator is _UNSET:
            from sim_training.estimator import META, WEIGHTS, load_estimator

            present = [n for n in (META, WEIGHTS) if (self.path / n).is_file()]
            if not present:
                self.loaded_estimator = None
            elif not self.z_dim:
                raise BundleError("a policy without latent cannot carry an estimator",
                                  self.path / present[0])
            else:
                self.loaded_estimator = load_estimator(self.path, z_dim=self.z_dim)
        return self.loaded_estimator  # type: ignore[return-value]

    @property
    def robot(self) -> str:
        """Robot name."""
        return self.config.robot

    @property
    def z_dim(self) -> int:
        """Latent size (0: robust baseline)."""
        return int(self.manifest["z_dim"])

    @property
    def motion_path(self) -> Path:
        """The bundle's own reference motion."""
        return self.path / "motion.txt"

    def normalize(self, obs: np.ndarray) -> np.ndarray:
        """Normalised observation, as in training (clipped)."""
        out = (obs - self.obs_mean) / np.sqrt(self.obs_var + self.epsilon)
        return np.clip(out, -self.clip_obs, self.clip_obs).astype(np.float32)

    def encode(self, dynamics: dict[str, float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Encoder mean and log σ (z_dim,) of dynamics params.

        Args:
            dynamics: A dynamics dict (missing keys nominal), or the full vector
                (len(DYNAMICS_KEYS),) of :func:`~sim_training.dynamics.dynamics_vector`.
        """
        if not self.z_dim:
            raise BundleError("this policy has no latent (robust baseline)", self.path)
        vec = (dynamics_vector(dynamics_from(dynamics)) if isinstance(dynamics, dict)
               else dynamics)
        with th.no_grad():
            mean, log_sigma = self.policy.features_extractor.encoder(
                th.as_tensor(np.asarray(vec, np.float32))[None])
        return mean[0].numpy().astype(np.float64), log_sigma[0].numpy().astype(np.float64)

    def act(self, obs: np.ndarray, *, dynamics: np.ndarray | None = None,
            z: np.ndarray | None = None) -> np.ndarray:
        """Deterministic action (12,) for a raw observation (n_obs,).

        The latent is, in order: ``z`` if given, the bundle's fixed z, the encoder's mean of
        ``dynamics``, else zeros (the prior mean).
        """
        obs = np.asarray(obs, dtype=np.float64)
        if obs.shape != self.obs_mean.shape or not np.all(np.isfinite(obs)):
            raise ValueError(f"observation must be {self.obs_mean.shape} finite values")
        feats = [th.as_tensor(self.normalize(obs))[None]]
        if self.z_dim:
            if z is None:
                z = self.z
            if z is None and dynamics is not None:
                z = self.encode(np.asarray(dynamics, np.float32))[0]
            if z is None:
                z = np.zeros(self.z_dim)
            feats.append(th.as_tensor(np.asarray(z, np.float32))[None])
        with th.no_grad():
            latent_pi = self.policy.mlp_extractor.forward_actor(th.cat(feats, dim=-1))
            action = self.policy.action_net(latent_pi)[0].numpy()
        return np.clip(action, -1.0, 1.0)


def _read_z(path: Path, z_dim: int) -> np.ndarray:
    """A bundle's fixed latent (``z.json``: ``{"z": [...]}``, ``z_dim`` finite numbers)."""
    data = read_json(path)
    try:
        z = np.asarray(data["z"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise BundleError('expected {"z": [numbers]}', path) from None
    if z.shape != (z_dim,) or not np.all(np.isfinite(z)):
        raise BundleError(f"z must be {z_dim} finite numbers", path)
    return z


def build_policy(config: TrainConfig) -> LatentActorCriticPolicy:
    """An untrained policy with the architecture of ``config`` (spaces rebuilt from it)."""
    import dataclasses

    n_obs = observation_size(config.env.history, config.env.future_steps,
                             config.env.commands.enabled)
    model = config.model if config.latent else dataclasses.replace(config.model, z_dim=0,
                                                                   beta=0.0)
    low = np.array([LIMITS[k][0] for k in DYNAMICS_KEYS], np.float32)
    high = np.array([LIMITS[k][1] for k in DYNAMICS_KEYS], np.float32)
    obs_space = gym.spaces.Dict({
        "obs": gym.spaces.Box(-np.inf, np.inf, (n_obs,), np.float32),
        "dynamics": gym.spaces.Box(low, high, (len(DYNAMICS_KEYS),), np.float32),
        "z_noise": gym.spaces.Box(-np.inf, np.inf, (max(model.z_dim, 1),), np.float32)})
    offset, scale = dynamics_normaliser(config.env.ranges)
    return LatentActorCriticPolicy(obs_space, gym.spaces.Box(-1, 1, (12,), np.float32),
                                   lambda _: 0.0, model=model, dynamics_offset=offset,
                                   dynamics_scale=scale,
                                   dynamics_keys=encoder_keys(config.env.ranges))


__all__ = ["ESTIMATOR_FILES", "PolicyBundle", "build_policy", "load_normalization",
           "load_weights", "read_json", "read_train_config", "to_dict", "write_bundle"]
