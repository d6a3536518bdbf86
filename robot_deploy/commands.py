"""Where a steerable policy's command comes from on a robot: the wireless remote or a script.

A command source is called once per policy step with the policy time and the remote's newest
reading and returns the command (3,): forward speed (m/s), lateral speed (m/s, left positive)
and yaw rate (rad/s), robot heading frame (:mod:`sim_training.commands`).

- :class:`RemoteSticks` (``deploy --command remote``): the left stick forward is the speed
  along the gait's own direction (up to the fastest playback of the clip), the left stick
  sideways the lateral speed (gaits that step sideways), the right stick sideways the yaw rate
  (right turns right); each stick has a dead zone, and the command's changes are rate limited.
  Sticks released: the command is zero and the policy's reference stands.
- :class:`ScriptedCommands` (``deploy --command FILE``, or a built-in script name): a command
  script (:func:`sim_training.commands.load_command_script`), for simulators and benches.

A policy trained without commands takes none: the controller then ignores the source.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from robot_deploy.remote import RemoteState
from sim_training.commands import TRAVELS, CommandConfig, CommandScript

if TYPE_CHECKING:
    from sim_training.bundle import PolicyBundle


class CommandSource(Protocol):
    """Gives the command (3,) at each policy step."""

    def __call__(self, t: float, remote: RemoteState | None) -> np.ndarray:
        """The command at policy time ``t`` (s), given the remote's newest reading."""
        ...


@dataclass(frozen=True)
class StickConfig:
    """How the remote's sticks become a command."""

    dead_zone: float = 0.1
    """Stick deflection (of 1) read as centred; beyond it the range is rescaled from 0."""
    acceleration: float = 1.0
    """Largest change of the commanded speed (m/s per s)."""
    yaw_acceleration: float = 2.0
    """Largest change of the commanded yaw rate (rad/s per s)."""

    def __post_init__(self) -> None:
        """Reject a dead zone outside [0, 1) or non-positive rate limits.

        Raises:
            ValueError: One of them.
        """
        if not (0.0 <= self.dead_zone < 1.0 and self.acceleration > 0.0
                and self.yaw_acceleration > 0.0):
            raise ValueError("need 0 <= dead_zone < 1 and positive rate limits")


def dead_zoned(value: float, dead_zone: float) -> float:
    """A stick value (−1..1) with its dead zone removed and the rest rescaled to −1..1."""
    magnitude = abs(value)
    if magnitude <= dead_zone:
        return 0.0
    return math.copysign(min(1.0, (magnitude - dead_zone) / (1.0 - dead_zone)), value)


class RemoteSticks:
    """The wireless remote's sticks as a command, for one gait.

    Args:
        commands: The gait's command settings (its bundle's ``env.commands``).
        clip: The gait's own command (3,) (:func:`sim_training.commands.clip_command`).
        config: Dead zone and rate limits.
        dt: Policy period (s), the rate limits' step.
    """

    def __init__(self, commands: CommandConfig, clip: np.ndarray,
                 config: StickConfig | None = None, dt: float = 1.0 / 30.0) -> None:
        self.config = config or StickConfig()
        self.dt = float(dt)
        self.travels = math.hypot(clip[0], clip[1]) >= TRAVELS
        self.full_speed = commands.playback_range[1] * np.asarray(clip[:2], dtype=float)
        """Planar command (2,) of the left stick fully forward: the clip's fastest playback."""
        self.full_yaw = max(abs(clip[2] + v) for v in commands.yaw_rate_range)
        """Yaw rate (rad/s) of the right stick fully sideways."""
        self.command = np.zeros(3)
        """The command given last (3,)."""

    def target(self, remote: RemoteState | None) -> np.ndarray:
        """The command (3,) the sticks ask for, before the rate limits."""
        if remote is None:
            return np.zeros(3)
        dz = self.config.dead_zone
        forward = max(0.0, dead_zoned(remote.ly, dz))
        planar = forward * self.full_speed if self.travels else np.zeros(2)
        return np.array([planar[0], planar[1], -dead_zoned(remote.rx, dz) * self.full_yaw])

    def __call__(self, t: float, remote: RemoteState | None) -> np.ndarray:
        """The rate-limited command at policy time ``t`` (s)."""
        want = self.target(remote)
        step_v = self.config.acceleration * self.dt
        step_w = self.config.yaw_acceleration * self.dt
        delta = want - self.command
        planar = float(np.hypot(delta[0], delta[1]))
        if planar > step_v:
            delta[:2] *= step_v / planar
        delta[2] = max(-step_w, min(step_w, delta[2]))
        self.command = self.command + delta
        if not want.any() and float(np.abs(self.command).max()) < 1e-9:
            self.command = np.zeros(3)
        return self.command.copy()


class ScriptedCommands:
    """A command script played from the policy's start.

    Args:
        script: The script; after its end the last segment's command holds.
    """

    def __init__(self, script: CommandScript) -> None:
        self.script = script

    def __call__(self, t: float, remote: RemoteState | None) -> np.ndarray:
        """The script's command at ``t`` (s); the remote is not read."""
        return self.script.at(t)


def command_source(spec: str | None, bundle: PolicyBundle,
                   sticks: StickConfig | None = None) -> CommandSource | None:
    """The command source ``deploy --command`` names, for one bundle.

    Args:
        spec: "remote", a built-in script name (``figure_eight``, ``start_stop``,
            ``speed_ramp``) or a script file; None: no source (the clip's own command).
        bundle: The policy; one trained without commands gets no source (it takes none).
        sticks: The sticks' dead zone and rate limits (``remote``).

    Raises:
        ConfigError: Not "remote", a built-in or a readable script (one line).
    """
    if spec is None:
        return None
    from sim_training.commands import load_command_script, motion_clip_command

    env = bundle.config.env
    clip = motion_clip_command(bundle.motion_path, bundle.robot)
    if spec == "remote":
        source: CommandSource = RemoteSticks(env.commands, clip, sticks, env.policy_dt)
    else:
        source = ScriptedCommands(load_command_script(spec, clip, env.commands))
    return source if env.commands.enabled else None


__all__ = ["CommandSource", "RemoteSticks", "ScriptedCommands", "StickConfig", "command_source",
           "dead_zoned"]
