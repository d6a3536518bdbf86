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
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from quadmimic.core.errors import QuadmimicError
from robot_deploy.commands import CommandSource
from robot_deploy.controller import PolicyController, RunResult
from robot_deploy.robot import JointCommand, Robot, RobotState
from robot_deploy.safety import SafetyLayer
from sim_training.bundle import PolicyBundle

SKILL_BUTTONS = ("A", "B", "X", "Y")
"""The remote buttons a skill can be put on."""


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
        **kwargs: :class:`PolicyController`'s options (``realtime``, ``command_hz``, ...)
            for every skill.
    """

    def __init__(self, skills: dict[str, PolicyBundle], robot: Robot, *,
                 command_source_for: Callable[[PolicyBundle], CommandSource | None] | None = None,
                 switch_seconds: float = 1.0, hold_seconds: float = 0.5,
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
        first = next(iter(self.skills))
        super().__init__(skills[first], safe, actor=self.skills[first].actor,
                         command_source=self.skills[first].command_source, **kwargs)
        self.active = first
        """The button of the skill running (or to run)."""
        self.switch_seconds = float(switch_seconds)
        self.hold_seconds = float(hold_seconds)
        self.switches: list[dict[str, Any]] = []
        """Each switch: ``time`` (policy time, s), ``from``, ``to`` (buttons)."""
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

        def stop_here(state: RobotState) -> bool:
            wanted[0] = self._wanted(state)
            return self.stop_requested or wanted[0] is not None or bool(
                until is not None and until(state))

        while elapsed < seconds - 1e-9:
            skill = self.skills[self.active]
            result.seconds, wanted[0] = 0.0, None
            skill._policy_loop(seconds - elapsed, result, last, log, on_step, until=stop_here)
            elapsed += result.seconds
            if self.stop_requested:
                result.stopped_by = "signal"
                break
            if self.robot.tripped or wanted[0] is None:
                break  # tripped, or the time is up
            result.stopped_by = "time"
            self.switches.append({"time": round(elapsed, 4), "from": self.active,
                                  "to": wanted[0]})
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


__all__ = ["SKILL_BUTTONS", "SkillController", "parse_skill"]
