"""Online z estimator: ẑ from the last second of proprioception, as in RMA and HIMLoco.

A latent policy π(a | s, z) is trained with z = E(μ), the encoder of the true dynamics params
μ, which a robot does not know. The estimator regresses the encoder's mean z from what the
robot senses and commanded over a short window at the policy rate, so the deploy loop can
feed the actor ẑ instead of the prior mean (zeros) or a searched z.

**Input (the history layout).** The last ``window`` proprioception frames of the policy
observation, newest first, each the 28 values of
:func:`~sim_training.observations.proprio_frame` (roll, pitch (rad); roll rate, pitch rate
(rad/s); 12 joint angles (rad); the 12 previous actions (unitless)): exactly the ``obs``
vector's block ``proprio[-0]`` (offset 0, size 28) at every policy step. Nothing privileged
(no velocity, position, contact or dynamics). At a reset the whole window is filled with the
first frame, as :class:`~sim_training.observations.ObservationBuilder` fills its history.

**Network.** The frames are normalised with the bundle's own observation statistics of that
block (``(x − mean) / sqrt(var + ε)``, clipped to ±``clip_obs``, as the actor's input is),
flattened (window × 28) and mapped by an ELU MLP to ẑ (z_dim). An MLP over the flattened
window was chosen over a 1D convolution: at 15–30 frames the window is short enough that the
first layer sees it whole, the numpy runtime is three matrix–vector products (measured cost
in the report of :func:`measure_update_microseconds`), and the ONNX graph is plain
Gemm/Elu. Normalisation is inside the module, so the ONNX file takes raw frames.

**Files** (inside a bundle folder, or any folder): ``estimator.pt`` (the module's state dict,
loaded with ``torch.load(weights_only=True)``) and ``estimator.json`` (format, config, the
history layout, z_dim, the policy it was trained for and the training figures).
:func:`load_estimator` turns any unreadable or inconsistent file into one located
:class:`~quadmimic.core.errors.BundleError` line.

Training (DAgger over the bundle's own randomisation) lives in
:mod:`sim_training.estimator_training`; this module only needs torch and numpy, so the deploy
side can import it without PyBullet.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from quadmimic.core.errors import BundleError
from quadmimic.core.fileio import atomic_write, atomic_write_text, read_table
from sim_training.config import from_dict, to_dict
from sim_training.observations import PROPRIO_SIZE, observation_layout
from sim_training.policy import mlp

FORMAT = "quadmimic-z-estimator"
VERSION = 1
WEIGHTS = "estimator.pt"
META = "estimator.json"
ONNX = "estimator.onnx"
SENSED_SIZE = 16
"""Values of a proprioception frame before its previous actions (roll/pitch, rates, joints)."""


@dataclass(frozen=True)
class EstimatorConfig:
    """Architecture and DAgger training budget of a z estimator."""

    window: int = 20
    """Proprioception frames in the input window (20 at 30 Hz: 0.67 s of history)."""
    hidden: tuple[int, ...] = (256, 128)
    """Hidden sizes of the ELU MLP over the flattened window."""
    iterations: int = 6
    """DAgger iterations. Iteration 0 acts with ``first_acting``; every later one acts with
    the previous iteration's ẑ. Each labels every step with the oracle z (the encoder's mean
    of the true params) and adds its episodes to the aggregated data set."""
    first_acting: str = "prior"
    """What iteration 0 acts with: "prior" (zeros) or "oracle" (the encoder's mean of the
    true params). The previous actions in the window are the policy's reaction to the z it
    acted with: on episodes acting with the oracle z they reveal the true z without any
    sensing, a shortcut that fails once the policy acts with ẑ. Measured on go2_trot_wide
    (a fit on 170 oracle-acting episodes): error 0.07 on episodes acting with the oracle z,
    0.47 acting with its own ẑ, 0.80 acting with the prior (prior-mean error 1.09). Acting
    with the prior first gave the lower error in the first ẑ-acting iteration, at a tiny
    budget and at 4 × 50 episodes."""
    keep_first: bool = True
    """Keep iteration 0's episodes in the aggregated data after iteration 1 (False: they
    only start the fit, later fits use the episodes that acted with ẑ)."""
    episodes_per_iteration: int = 100
    """Training episodes collected per iteration, each with dynamics drawn from the bundle's
    training ranges (its own env, ``randomize=True``)."""
    episode_seconds: float = 3.0
    """Longest collected episode (s; a fall ends one earlier). Shorter than the policy's
    10 s episodes so that a budget of steps covers more draws of the dynamics."""
    validation_episodes: int = 30
    """Held-out episodes (their own seeds) acting with the final ẑ, for the figures."""
    holdout_fraction: float = 0.2
    """Fraction of each iteration's episodes held out of the fit to pick the epoch whose
    weights are kept (early stopping against the last epoch's over-fitting)."""
    epochs: int = 15
    """Passes over the aggregated data after each iteration."""
    batch_size: int = 256
    """Minibatch size (windows)."""
    learning_rate: float = 1e-3
    """Adam learning rate."""
    weight_decay: float = 1e-5
    """Adam's L2 weight decay."""
    seed: int = 0
    """Seed of the weights, the minibatch order and every episode's dynamics and phase."""
    torch_threads: int = 1
    """torch threads while fitting (restored afterwards)."""

    def __post_init__(self) -> None:
        """Reject budgets that cannot train."""
        if self.window < 1 or not self.hidden or min(self.hidden) < 1:
            raise ValueError("window >= 1 and non-empty positive hidden sizes are required")
        if self.iterations < 1 or self.episodes_per_iteration < 1 or self.epochs < 1:
            raise ValueError("iterations, episodes_per_iteration and epochs must be >= 1")
        if self.validation_episodes < 1 or self.episode_seconds <= 0.0:
            raise ValueError("validation_episodes >= 1 and episode_seconds > 0 are required")
        if self.first_acting not in ("oracle", "prior"):
            raise ValueError("first_acting must be oracle or prior")
        if not 0.0 <= self.holdout_fraction < 1.0:
            raise ValueError("holdout_fraction must be in [0, 1)")
        if self.batch_size < 1 or self.learning_rate <= 0.0 or self.weight_decay < 0.0:
            raise ValueError("batch_size >= 1, learning_rate > 0, weight_decay >= 0 required")


def frame_layout() -> list[dict[str, Any]]:
    """The blocks of one proprioception frame: name, offset, size and unit of each.

    Derived from :func:`~sim_training.observations.observation_layout`, the policy
    observation's own layout, so the two cannot drift apart.
    """
    out, offset = [], 0
    for name, size, unit in observation_layout(1, ()):
        out.append({"name": name.split(".", 1)[1], "offset": offset, "size": size,
                    "unit": unit})
        offset += size
    if offset != PROPRIO_SIZE:
        raise ValueError(f"proprioception frame layout ({offset}) is not {PROPRIO_SIZE} values")
    return out


def history_layout(window: int, z_dim: int, policy_hz: float) -> dict[str, Any]:
    """The estimator's input and output, for ``estimator.json`` and ``deploy.json``.

    Args:
        window: Frames in the window.
        z_dim: Latent size.
        policy_hz: The policy rate (Hz) the frames are sampled at.

    Returns:
        A JSON-ready dict: the input tensor (shape, order, frame layout with offsets, where
        each frame comes from in the policy observation), the reset rule, the rate, the
        output and the ONNX file's input and output names.
    """
    return {
        "input": {"name": "history", "shape": [window, PROPRIO_SIZE], "dtype": "float32",
                  "order": "newest first (row 0 is the frame of the current policy step)",
                  "frame": frame_layout(),
                  "source": {"observation_block": "proprio[-0]", "offset": 0,
                             "size": PROPRIO_SIZE},
                  "previous_action": "the clipped raw action of the previous policy step, "
                                     "as in the observation"},
        "window": window, "window_seconds": window / policy_hz, "rate_hz": policy_hz,
        "reset": "at the first frame of an episode the whole window is that frame",
        "normalisation": "inside the graph (the bundle's observation statistics of the "
                         "proprio[-0] block, clipped)",
        "output": {"name": "z_hat", "size": z_dim,
                   "use": "the actor's z input, from the same policy step on"},
        "privileged": False,
    }


class EstimatorNet(th.nn.Module):
    """Raw proprioception window (B, window, 28) → ẑ (B, z_dim).

    Args:
        window: Frames in the window.
        z_dim: Latent size.
        hidden: Hidden sizes of the ELU MLP.
        frame_mean: (28,) mean of a frame (the bundle's ``obs_mean[:28]``).
        frame_std: (28,) its standard deviation ``sqrt(obs_var[:28] + ε)``.
        clip: Normalised values are clipped to ±clip.
    """

    def __init__(self, window: int, z_dim: int, hidden: tuple[int, ...],
                 frame_mean: np.ndarray, frame_std: np.ndarray, clip: float) -> None:
        super().__init__()
        self.window, self.z_dim, self.hidden = int(window), int(z_dim), tuple(hidden)
        self.register_buffer("frame_mean", th.as_tensor(frame_mean, dtype=th.float32))
        self.register_buffer("frame_std", th.as_tensor(frame_std, dtype=th.float32))
        self.register_buffer("clip", th.tensor(float(clip), dtype=th.float32))
        self.net = mlp([self.window * PROPRIO_SIZE, *self.hidden, self.z_dim])

    def forward(self, history: th.Tensor) -> th.Tensor:
        """ẑ (B, z_dim) from raw frames (B, window, 28), newest first."""
        x = (history - self.frame_mean) / self.frame_std
        x = th.minimum(th.maximum(x, -self.clip), self.clip)
        return self.net(x.flatten(1))

    def numpy_layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The MLP's (weight (out, in), bias (out,)) float32 pairs, input to output."""
        return [(m.weight.detach().numpy().astype(np.float32).copy(),
                 m.bias.detach().numpy().astype(np.float32).copy())
                for m in self.net if isinstance(m, th.nn.Linear)]


def build_net(config: EstimatorConfig, z_dim: int, obs_mean: np.ndarray, obs_var: np.ndarray,
              epsilon: float, clip: float) -> EstimatorNet:
    """An untrained estimator for a bundle's observation statistics (its first frame)."""
    mean = np.asarray(obs_mean, np.float64)[:PROPRIO_SIZE]
    std = np.sqrt(np.asarray(obs_var, np.float64)[:PROPRIO_SIZE] + epsilon)
    return EstimatorNet(config.window, z_dim, config.hidden, mean, std, clip)


def policy_fingerprint(bundle_dir: str | Path) -> str | None:
    """SHA-256 of a bundle's ``policy.pt`` (None for a folder without one, e.g. a run)."""
    path = Path(bundle_dir) / "policy.pt"
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


@dataclass
class ZEstimator:
    """A trained estimator with its description.

    Attributes:
        net: The network (eval mode, CPU).
        config: Its architecture and training budget.
        meta: The ``estimator.json`` content (history layout, training figures, ...).
    """

    net: EstimatorNet
    config: EstimatorConfig
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def z_dim(self) -> int:
        """Latent size."""
        return self.net.z_dim

    @property
    def window(self) -> int:
        """Frames in the window."""
        return self.net.window

    def predict(self, history: np.ndarray) -> np.ndarray:
        """ẑ (B, z_dim) float64 for raw windows (B, window, 28), through torch (batched)."""
        with th.no_grad():
            out = self.net(th.as_tensor(np.asarray(history, np.float32)))
        return out.numpy().astype(np.float64)

    def runtime(self) -> OnlineEstimator:
        """A fresh per-step runtime of this estimator."""
        return OnlineEstimator(self)

    def deploy_entry(self) -> dict[str, Any]:
        """The ``deploy.json`` entry of the exported estimator (``z_estimator``)."""
        return {**self.meta.get("history", {}), "file": ONNX,
                "onnx_inputs": ["history"], "onnx_outputs": ["z_hat"]}


def save_estimator(estimator: ZEstimator, folder: str | Path) -> Path:
    """Write ``estimator.pt`` and ``estimator.json`` into ``folder`` (each atomically).

    The weights are written first: a crash in between leaves the old JSON naming a config
    the new weights may not fit, which :func:`load_estimator` reports, never half a file.

    Returns:
        The folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone() for k, v in estimator.net.state_dict().items()}
    atomic_write(folder / WEIGHTS, lambda f: th.save(state, f))
    net = estimator.net
    meta = {"format": FORMAT, "version": VERSION, **estimator.meta,
            "config": to_dict(estimator.config), "z_dim": estimator.z_dim,
            "normalisation": {"frame_mean": net.frame_mean.tolist(),
                              "frame_std": net.frame_std.tolist(),
                              "clip": float(net.clip.item())}}
    meta["format"], meta["version"] = FORMAT, VERSION
    atomic_write_text(folder / META, json.dumps(meta, indent=2) + "\n")
    return folder


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def load_estimator(folder: str | Path, *, z_dim: int | None = None,
                   check_policy: bool = True) -> ZEstimator:
    """Load ``estimator.json`` + ``estimator.pt`` from a folder (a bundle, usually).

    Args:
        folder: The folder holding both files.
        z_dim: The latent size it must produce (the bundle's); None: not checked.
        check_policy: If ``estimator.json`` names the ``policy.pt`` it was trained for and the
            folder has a ``policy.pt``, they must agree (a retrained policy needs a new
            estimator: its z means something else).

    Raises:
        BundleError: One located line for a missing, unreadable, malformed or inconsistent
            file (the JSON's line number where its syntax is wrong).
    """
    folder = Path(folder)
    meta_path, weights_path = folder / META, folder / WEIGHTS
    for path in (meta_path, weights_path):
        if not path.is_file():
            raise BundleError(f"estimator file {path.name} is missing", folder)
    meta = read_table(meta_path, BundleError, "estimator description")
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise BundleError(f"not a {FORMAT} version {VERSION} (format {meta.get('format')!r}, "
                          f"version {meta.get('version')!r})", meta_path)
    try:
        config = from_dict(EstimatorConfig, meta["config"])
        meta_z = int(meta["z_dim"])
        stats = meta["normalisation"]
        frame_mean = np.asarray(stats["frame_mean"], np.float64)
        frame_std = np.asarray(stats["frame_std"], np.float64)
        clip = float(stats["clip"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"malformed estimator description: {_first_line(exc)}",
                          meta_path) from None
    if z_dim is not None and meta_z != z_dim:
        raise BundleError(f"the estimator outputs z_dim {meta_z}, the policy takes {z_dim}",
                          meta_path)
    if frame_mean.shape != (PROPRIO_SIZE,) or frame_std.shape != (PROPRIO_SIZE,):
        raise BundleError(f"normalisation must have {PROPRIO_SIZE} values per frame", meta_path)
    if check_policy and meta.get("policy_sha256") is not None:
        actual = policy_fingerprint(folder)
        if actual is not None and actual != meta["policy_sha256"]:
            raise BundleError("the estimator was trained for another policy.pt "
                              "(sha256 differs): train a new one", meta_path)
    net = EstimatorNet(config.window, meta_z, config.hidden, frame_mean, frame_std, clip)
    try:
        state = th.load(weights_path, weights_only=True, map_location="cpu")
        if not isinstance(state, dict):
            raise ValueError(f"a state dict was expected, found {type(state).__name__}")
        net.load_state_dict(state)
    except Exception as exc:  # torch raises KeyError, EOFError, RuntimeError, ... for a bad file
        raise BundleError(f"unreadable or not fitting estimator.json: {_first_line(exc)}",
                          weights_path) from None
    if not all(bool(th.isfinite(v).all()) for v in net.state_dict().values()):
        raise BundleError("non-finite weights", weights_path)
    net.eval()
    return ZEstimator(net, config, meta)


class OnlineEstimator:
    """The estimator at the policy rate: a sliding window and a numpy forward pass.

    Call :meth:`reset` at an episode's (a rollout's) start and :meth:`update` once per policy
    step with the frame the observation gets, before the actor runs: the ẑ returned is the
    actor's z for that step. No torch is called per step: the weights are copied to float32
    numpy arrays at construction, and each update normalises the new frame, slides the
    window by one frame and runs the MLP's matrix–vector products.

    Args:
        estimator: The trained estimator.
    """

    def __init__(self, estimator: ZEstimator) -> None:
        net = estimator.net
        self.window = net.window
        self.z_dim = net.z_dim
        self._mean = net.frame_mean.numpy().astype(np.float32).copy()
        self._inv_std = (1.0 / net.frame_std.numpy()).astype(np.float32)
        self._clip = np.float32(net.clip.item())
        self._layers = net.numpy_layers()
        self._x = np.zeros(self.window * PROPRIO_SIZE, np.float32)  # normalised, newest first
        self._raw = np.zeros((self.window, PROPRIO_SIZE), np.float64)
        self._frame = np.zeros(PROPRIO_SIZE, np.float64)
        self._filled = 0
        self.z_hat = np.zeros(self.z_dim)
        """The newest ẑ (z_dim,); zeros (the prior mean) before the first update."""

    @property
    def frames_seen(self) -> int:
        """Frames given since the last reset (the window is full from ``window`` on)."""
        return self._filled

    @property
    def history(self) -> np.ndarray:
        """The raw window (window, 28) the newest ẑ was computed from, newest first."""
        return self._raw.copy()

    def reset(self) -> None:
        """Forget the history (the next frame fills the whole window); ẑ back to zeros."""
        self._filled = 0
        self.z_hat = np.zeros(self.z_dim)

    def update(self, proprio: np.ndarray, previous_action: np.ndarray | None = None
               ) -> np.ndarray:
        """Add the newest frame and return ẑ (z_dim,) float64.

        Args:
            proprio: The observation's newest frame (28,) as built by
                :func:`~sim_training.observations.proprio_frame`; or, with
                ``previous_action``, its sensed part (16,): roll, pitch (rad), roll and pitch
                rate (rad/s), 12 joint angles (rad).
            previous_action: The previous policy step's clipped action (12,), when
                ``proprio`` is the sensed part only.

        Raises:
            ValueError: Wrong sizes or non-finite values (the window is left unchanged).
        """
        frame = self._frame
        if previous_action is None:
            values = np.asarray(proprio, np.float64).reshape(-1)
            if values.shape != (PROPRIO_SIZE,):
                raise ValueError(f"a proprioception frame has {PROPRIO_SIZE} values, got "
                                 f"{values.shape[0]} (give previous_action with 16 values)")
            frame[:] = values
        else:
            sensed = np.asarray(proprio, np.float64).reshape(-1)
            action = np.asarray(previous_action, np.float64).reshape(-1)
            if sensed.shape != (SENSED_SIZE,) or action.shape != (12,):
                raise ValueError(f"need {SENSED_SIZE} sensed values and 12 previous actions, "
                                 f"got {sensed.shape[0]} and {action.shape[0]}")
            frame[:SENSED_SIZE], frame[SENSED_SIZE:] = sensed, action
        if not np.all(np.isfinite(frame)):
            raise ValueError("the proprioception frame has non-finite values")
        norm = np.clip((frame.astype(np.float32) - self._mean) * self._inv_std,
                       -self._clip, self._clip)
        x = self._x
        if self._filled == 0:
            x.reshape(self.window, PROPRIO_SIZE)[:] = norm
            self._raw[:] = frame
        else:
            x[PROPRIO_SIZE:] = x[:-PROPRIO_SIZE].copy()
            x[:PROPRIO_SIZE] = norm
            self._raw[1:] = self._raw[:-1].copy()
            self._raw[0] = frame
        self._filled += 1
        h = x
        last = len(self._layers) - 1
        for i, (w, b) in enumerate(self._layers):
            h = w @ h + b
            if i < last:
                h = np.where(h > 0.0, h, np.expm1(np.minimum(h, 0.0)))
        self.z_hat = h.astype(np.float64)
        return self.z_hat.copy()


@dataclass(frozen=True)
class ZChoice:
    """Which z a latent policy acts with (the CLI's ``--z estimate | prior | FILE | values``).

    Attributes:
        kind: "estimate" (ẑ per policy step from ``estimator``), "prior" (zeros) or "fixed".
        z: The latent (z_dim,) for "prior" and "fixed"; None for "estimate".
        estimator: The estimator for "estimate", else None.
        source: Where it came from, for reports ("estimate", "prior", the file, "values").
        note: Why it was chosen when no ``--z`` was given ("" when it was given).
    """

    kind: str
    z: np.ndarray | None
    estimator: ZEstimator | None
    source: str
    note: str = ""

    def describe(self) -> str:
        """One line for a command's output, e.g. ``z: estimate (online ẑ, 20 frames = 0.67 s)``."""
        if self.kind == "estimate" and self.estimator is not None:
            hist = self.estimator.meta.get("history", {})
            seconds = hist.get("window_seconds")
            what = (f"estimate (online ẑ from the bundle's estimator, {self.estimator.window} "
                    "frames" + (f" = {seconds:.2f} s" if seconds else "") + ")")
        elif self.kind == "prior":
            what = "prior (z = 0)"
        else:
            what = f"fixed z from {self.source}"
        return f"z: {what}" + (f"; {self.note}" if self.note else "")


def _parse_z(text: str, z_dim: int) -> ZChoice:
    """A fixed z from a JSON file or numbers (``--z FILE | values``).

    Raises:
        ConfigError: Not ``z_dim`` finite numbers (located in the file when it is one).
    """
    from quadmimic.core.errors import ConfigError

    path = Path(text)
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not valid JSON: {exc.msg}", path, exc.lineno) from None
        values = data.get("z") if isinstance(data, dict) else data
        where: Path | None = path
    else:
        try:
            values = [float(v) for v in text.replace(",", " ").split()]
        except ValueError:
            raise ConfigError(f"--z must be estimate, prior, a JSON file or {z_dim} "
                              f"comma-separated numbers, got {text!r}") from None
        where = None
    try:
        z = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        z = np.zeros(0)
    if z.shape != (z_dim,) or not np.all(np.isfinite(z)):
        raise ConfigError(f"--z must be {z_dim} finite numbers (the policy's latent size), "
                          f"got {z.size}", where)
    return ZChoice("fixed", z, None, str(path) if where is not None else "values")


def resolve_z(text: str | None, bundle_dir: str | Path, z_dim: int) -> ZChoice:
    """Resolve a ``--z`` argument for a latent bundle folder.

    Args:
        text: "estimate", "prior", a JSON file (``{"z": [...]}`` as ``z.json`` or a list),
            or ``z_dim`` numbers separated by commas or spaces. None: the default, the
            bundle's fixed ``z.json`` (an adapted bundle) when it has one, else "estimate"
            when it has ``estimator.json``, else the prior.
        bundle_dir: The bundle folder.
        z_dim: The bundle's latent size (> 0).

    Raises:
        BundleError: "estimate" for a bundle without a (readable) estimator.
        ConfigError: A file or values that are not ``z_dim`` finite numbers (located).
    """
    bundle_dir = Path(bundle_dir)
    if text is None:
        if (bundle_dir / "z.json").is_file():
            return dataclasses.replace(_parse_z(str(bundle_dir / "z.json"), z_dim),
                                       note="the bundle's fixed z (an adapted bundle)")
        if (bundle_dir / META).is_file():
            return ZChoice("estimate", None, load_estimator(bundle_dir, z_dim=z_dim),
                           "estimate", "the default: the bundle carries an estimator")
        return ZChoice("prior", np.zeros(z_dim), None, "prior",
                       "the default: the bundle carries no estimator")
    if text == "estimate":
        if not (bundle_dir / META).is_file() and not (bundle_dir / WEIGHTS).is_file():
            raise BundleError("--z estimate: this policy carries no estimator (train one with "
                              "quadmimic estimator BUNDLE)", bundle_dir)
        return ZChoice("estimate", None, load_estimator(bundle_dir, z_dim=z_dim), "estimate")
    if text == "prior":
        return ZChoice("prior", np.zeros(z_dim), None, "prior")
    return _parse_z(text, z_dim)


def choose_z(bundle: Any, text: str | None) -> ZChoice | None:
    """The ``--z`` of a command for a loaded bundle (:class:`~sim_training.bundle.PolicyBundle`).

    As :func:`resolve_z`, with the bundle's own estimator (loaded once) and fixed z; None for a
    policy without latent when no ``--z`` is given.

    Raises:
        BundleError: ``--z`` for a policy without latent; "estimate" for one without estimator;
            an estimator that does not fit the policy (located).
        ConfigError: A file or values that are not ``z_dim`` finite numbers (located).
    """
    if not bundle.z_dim:
        if text is not None:
            raise BundleError("--z: this policy has no latent (a robust baseline)", bundle.path)
        return None
    if text is None:
        if bundle.z is not None:
            return ZChoice("fixed", np.asarray(bundle.z, np.float64), None, "z.json",
                           "the bundle's fixed z (an adapted bundle)")
        estimator = bundle.estimator()
        if estimator is not None:
            return ZChoice("estimate", None, estimator, "estimate",
                           "the default: the bundle carries an estimator")
        return ZChoice("prior", np.zeros(bundle.z_dim), None, "prior",
                       "the default: the bundle carries no estimator")
    if text == "estimate":
        estimator = bundle.estimator()
        if estimator is None:
            raise BundleError("--z estimate: this policy carries no estimator (train one with "
                              "quadmimic estimator BUNDLE)", bundle.path)
        return ZChoice("estimate", None, estimator, "estimate")
    return resolve_z(text, bundle.path, bundle.z_dim)


def measure_update_microseconds(estimator: ZEstimator, steps: int = 2000,
                                seed: int = 0) -> dict[str, float]:
    """Wall time of :meth:`OnlineEstimator.update` (µs): median, p99 and mean over ``steps``.

    Frames are random around the estimator's own normalisation statistics.
    """
    rng = np.random.default_rng(seed)
    run = OnlineEstimator(estimator)
    mean, std = run._mean.astype(np.float64), 1.0 / run._inv_std.astype(np.float64)
    frames = mean + std * rng.standard_normal((steps, PROPRIO_SIZE))
    times = np.empty(steps)
    for i, frame in enumerate(frames):
        start = time.perf_counter()
        run.update(frame)
        times[i] = time.perf_counter() - start
    times *= 1e6
    return {"p50_us": float(np.median(times)), "p99_us": float(np.percentile(times, 99)),
            "mean_us": float(times.mean()), "steps": steps}


def export_estimator(estimator: ZEstimator, out: str | Path, samples: int = 256,
                     seed: int = 0) -> dict[str, Any]:
    """Write ``estimator.onnx`` (history (B, window, 28) → z_hat (B, z_dim)) with parity checks.

    The graph is exported through ``torch.export`` as :func:`sim_training.export.export_bundle`
    exports the actor, and carries the history layout as ONNX metadata
    (``z_estimator``). Parity: onnxruntime and the numpy runtime (:class:`OnlineEstimator`,
    fed the same windows frame by frame, oldest first) against the torch module, on random
    windows around the normalisation statistics.

    Returns:
        ``onnx_max_abs_diff``, ``numpy_max_abs_diff``, ``samples``, ``parity_ok`` (both below
        1e-5) and the file written.
    """
    import onnxruntime as ort

    from sim_training.export import _add_onnx_metadata, _onnx_from_program

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    net = estimator.net.eval()
    mean, std = net.frame_mean.numpy(), net.frame_std.numpy()
    windows = (mean + std * rng.standard_normal((samples, net.window, PROPRIO_SIZE))
               ).astype(np.float32)
    reference = estimator.predict(windows)
    batch = th.export.Dim("batch", min=1)
    example = th.as_tensor(windows[:2])
    with th.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*LeafSpec.*", category=FutureWarning)
        program = th.export.export(net, (example,), dynamic_shapes=({0: batch},))
        _onnx_from_program(program, out / ONNX, ["history"], ["z_hat"])
    _add_onnx_metadata(out / ONNX, {"z_estimator": json.dumps(estimator.deploy_entry())})
    sess = ort.InferenceSession(str(out / ONNX), providers=["CPUExecutionProvider"])
    onnx_out = sess.run(None, {"history": windows})[0]
    runtime = OnlineEstimator(estimator)
    numpy_out = np.empty_like(reference)
    for i, window in enumerate(windows):
        runtime.reset()
        for frame in window[::-1]:  # oldest first: the newest ends in row 0
            z = runtime.update(frame)
        numpy_out[i] = z
    report: dict[str, Any] = {
        "samples": samples, "file": str(out / ONNX),
        "onnx_max_abs_diff": float(np.max(np.abs(onnx_out - reference))),
        "numpy_max_abs_diff": float(np.max(np.abs(numpy_out - reference)))}
    report["parity_ok"] = bool(report["onnx_max_abs_diff"] < 1e-5
                               and report["numpy_max_abs_diff"] < 1e-5)
    return report


__all__ = ["EstimatorConfig", "EstimatorNet", "OnlineEstimator", "ZChoice", "ZEstimator",
           "build_net", "choose_z", "export_estimator", "frame_layout", "history_layout",
           "load_estimator", "measure_update_microseconds", "policy_fingerprint", "resolve_z",
           "save_estimator"]
