"""Several skills on one robot, switched from the wireless remote (``deploy --skill``).

``deploy --skill A=data/policies/go2_trot --skill B=data/policies/go2_spin`` loads one bundle
per remote button (:data:`SKILL_BUTTONS`); the first given runs first. Pressing another
skill's button switches to it *through the standing pose*: the running policy stops, the
joints ramp smoothly from where they are to the default pose (``switch_seconds``, the same
smoothstep as the start-up ramp) and hold it (``hold_seconds``) while the body settles, then
the new skill starts from standing as any deployment does. Every command still goes through
the one safety layer; the ramp moves the targets slower than its rate limit, so a switch
does not trip it (tested through both wire emulators). L2 + B stays the e-stop: with L2 held,
B is not a switch but the trip.

A steerable skill (one trained with commands) is *stopped first*: at the press its command
is brought down to zero under the deceleration limits, its policy keeps running until its
reference stands (gait weight 0) and has stood for ``settle_seconds``, and only then do the
joints ramp to the default pose. Cutting a gait at speed into the ramp tips the robot (a Go2
and a Go1 trot, switched at speed through the wire emulators, both tilted at the switch);
a gait that brings itself to a stand does not have to be caught. ``stop_seconds`` bounds the
wait: past it the switch goes on from wherever the gait is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from quadmimic.core.errors import QuadmimicError
from robot_deploy.commands import CommandSource
from robot_deploy.controller import PolicyController, RunResult
from robot_deploy.remote import RemoteState
from robot_deploy.robot import JointCommand, Robot, RobotState
from robot_deploy.safety import SafetyLayer
from sim_training.bundle import PolicyBundle

SKILL_BUTTONS = ("A", "B", "X", "Y")
"""The remote buttons a skill can be put on."""


class StoppableCommands:
    """A steerable skill's command source that can be told to bring the gait to a stand.

    Passes its source's command (the clip's own command without a source) until
    :attr:`stopping` is set; from then on it brings the last command to zero, the planar
    speed by at most ``deceleration · dt`` and the yaw rate by ``yaw_deceleration · dt`` per
    call.

    Args:
        source: The skill's command source (None: the clip's own command).
        clip: The clip's own command (3,): forward, lateral (m/s), yaw rate (rad/s).
        dt: The policy period (s), the step of the limits.
        deceleration: Largest decrease of the planar speed (m/s per s).
        yaw_deceleration: Largest decrease of the yaw rate (rad/s per s).
    """

    def __init__(self, source: CommandSource | None, clip: np.ndarray, dt: float,
                 deceleration: float = 1.0, yaw_deceleration: float = 2.0) -> None:
        self.source = source
        self.clip = np.asarray(clip, dtype=float).copy()
        self.dt = float(dt)
        self.deceleration = float(deceleration)
        self.yaw_deceleration = float(yaw_deceleration)
        self.stopping = False
        """Set: bring the command down to zero and hold it there."""
        self.command = self.clip.copy()
        """The command given last (3,)."""

    def __call__(self, t: float, remote: RemoteState | None) -> np.ndarray:
        """The command at policy time ``t`` (s)."""
        if not self.stopping:
            self.command = (self.clip.copy() if self.source is None else
                            np.asarray(self.source(t, remote), dtype=float).copy())
            return self.command.copy()
        planar = float(np.hypot(self.command[0], self.command[1]))
        step = self.deceleration * self.dt
        self.command[:2] *= max(0.0, planar - step) / planar if planar > 0.0 else 0.0
        yaw = float(self.command[2])
        self.command[2] = np.sign(yaw) * max(0.0, abs(yaw) - self.yaw_deceleration * self.dt)
        return self.command.copy()

    @property
    def stopped(self) -> bool:
        """The command has reached zero."""
        return bool(self.stopping and not np.any(self.command))


def parse_skill(text: str) -> tuple[str, Path]:
    """``BUTTON=BUNDLE`` (``A=data/policies/go2_trot``) as (button, path).

    Raises:
        QuadmimicError: Not of that form, or a button not in :data:`SKILL_BUTTONS`.
    """
    button, sep, path = text.partition("=")
    if not sep or not path:
        raise QuadmimicError(f"--skill {text!r}: expected BUTTON=BUNDLE, e.g. "
                             "A=data/policies/go2_trot")
    if button not in SKILL_BUTTONS:
        raise QuadmimicError(f"--skill {text!r}: the button must be one of "
                             f"{', '.join(SKILL_BUTTONS)}")
    return button, Path(path)


class SkillController(PolicyController):
    """Runs several bundles on one robot, switched by remote buttons through the standing pose.

    Args:
        skills: Button → bundle, in order; the first runs first. Every bundle must be for
            the robot's model.
        robot: The robot; wrapped in one :class:`SafetyLayer` that every skill shares.
        command_source_for: The command source of a skill's bundle (steerable ones), or None.
        switch_seconds: The ramp to the standing pose at a switch (s).
        hold_seconds: The standing pose held after it (s).
        settle_seconds: A steerable skill's reference standing this long before the ramp (s).
        stop_seconds: The longest wait for a steerable skill to stop (s); past it the switch
            goes on.
        **kwargs: :class:`PolicyController`'s options (``realtime``, ``command_hz``, ...)
            for every skill.
    """

    def __init__(self, skills: dict[str, PolicyBundle], robot: Robot, *,
                 command_source_for: Callable[[PolicyBundle], CommandSource | None] | None = None,
                 switch_seconds: float = 1.0, hold_seconds: float = 0.5,
                 settle_seconds: float = 0.5, stop_seconds: float = 4.0,
                 **kwargs: Any) -> None:
        if not skills:
            raise ValueError("give at least one skill")
        unknown = [b for b in skills if b not in SKILL_BUTTONS]
        if unknown:
            raise ValueError(f"skill buttons must be among {SKILL_BUTTONS}, got {unknown}")
        safe = robot if isinstance(robot, SafetyLayer) else SafetyLayer(robot)
        source = command_source_for or (lambda bundle: None)
        self.skills = {button: PolicyController(bundle, safe, command_source=source(bundle),
                                                **kwargs)
                       for button, bundle in skills.items()}
        """One controller per button (all on the one safety layer)."""
        for skill in self.skills.values():
            if skill.commanded is not None:  # steerable: stopped before a switch
                skill.command_source = StoppableCommands(
                    skill.command_source, skill.commanded.clip, skill.policy_dt)
        first = next(iter(self.skills))
        super().__init__(skills[first], safe, actor=self.skills[first].actor,
                         command_source=self.skills[first].command_source, **kwargs)
        self.active = first
        """The button of the skill running (or to run)."""
        self.switch_seconds = float(switch_seconds)
        self.hold_seconds = float(hold_seconds)
        self.settle_seconds = float(settle_seconds)
        self.stop_seconds = float(stop_seconds)
        self.switches: list[dict[str, Any]] = []
        """Each switch: ``pressed`` (policy time of the press, s), ``time`` (of the ramp's
        start, s), ``from``, ``to`` (buttons), ``stopped`` (a steerable skill: whether it
        stood before the ramp; None for others)."""
        self._held: frozenset[str] = frozenset()

    def _wanted(self, state: RobotState) -> str | None:
        """A skill button newly pressed (not the active one's, not with L2: the e-stop)."""
        held = frozenset() if state.remote is None else state.remote.buttons
        pressed, self._held = held - self._held, held
        if "L2" in held:
            return None
        for button in self.skills:
            if button in pressed and button != self.active:
                return button
        return None

    def _policy_loop(self, seconds: float, result: RunResult, last: list[float],
                     log: IO[str] | None,
                     on_step: Callable[[float, RobotState, np.ndarray], None] | None,
                     until: Callable[[RobotState], bool] | None = None) -> None:
        """The active skill's policy until another's button, then the switch, and so on."""
        elapsed = 0.0
        state = self.robot.read()
        self._held = frozenset() if state.remote is None else state.remote.buttons
        wanted: list[str | None] = [None]
        pressed_at = [0.0]  # policy time of the active skill at the press (s)
        steps = [0, 0]  # the active skill's policy steps; of them, steps standing since stop
        settled = [False]  # a stopping skill stood settle_seconds

        while elapsed < seconds - 1e-9:
            skill = self.skills[self.active]
            stoppable = skill.command_source if isinstance(
                skill.command_source, StoppableCommands) else None
            result.seconds, wanted[0], steps[:], settled[0] = 0.0, None, [0, 0], False

            def stop_here(state: RobotState, skill: PolicyController = skill,
                          stoppable: StoppableCommands | None = stoppable) -> bool:
                steps[0] += 1
                if self.stop_requested or (until is not None and until(state)):
                    return True
                if wanted[0] is None:
                    wanted[0] = self._wanted(state)
                    if wanted[0] is None:
                        return False
                    pressed_at[0] = (steps[0] - 1) * skill.policy_dt
                    if stoppable is None:
                        return True
                    stoppable.stopping = True
                assert stoppable is not None and skill.commanded is not None
                standing = stoppable.stopped and skill.commanded.gait_weight == 0.0
                steps[1] = steps[1] + 1 if standing else 0
                settled[0] = steps[1] * skill.policy_dt >= self.settle_seconds - 1e-9
                waited = steps[0] * skill.policy_dt - pressed_at[0]
                return settled[0] or waited >= self.stop_seconds - 1e-9

            try:
                skill._policy_loop(seconds - elapsed, result, last, log, on_step,
                                   until=stop_here)
            finally:
                if stoppable is not None:
                    stoppable.stopping = False
            if self.stop_requested:
                elapsed += result.seconds
                result.stopped_by = "signal"
                break
            if self.robot.tripped or wanted[0] is None or result.stopped_by != "switch":
                elapsed += result.seconds
                break  # tripped, or the time is up (also while a steerable skill stopped)
            result.stopped_by = "time"
            self.switches.append({
                "pressed": round(elapsed + pressed_at[0], 4),
                "time": round(elapsed + result.seconds, 4), "from": self.active,
                "to": wanted[0],
                "stopped": None if stoppable is None else settled[0]})
            elapsed += result.seconds
            self._stand(result, last)
            if self.robot.tripped or self.stop_requested:
                break
            self.active = wanted[0]
        result.seconds = elapsed

    def _stand(self, result: RunResult, last: list[float]) -> None:
        """Ramp from the joints' positions to the standing pose, then hold it."""
        self.phase = "switch"
        self._ramp(self.robot.read(), self.switch_seconds, result, last)
        hold = JointCommand.position(self.spec.default, self.spec)
        for _ in range(max(1, round(self.hold_seconds / self.command_dt))):
            if self.robot.tripped or self.stop_requested:
                return
            self._send(hold, result, last)
        self.phase = "policy"


__all__ = ["SKILL_BUTTONS", "SkillController", "StoppableCommands", "parse_skill"]
