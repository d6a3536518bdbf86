"""An emulator in its own process, as a robot would be: ``quadmimic emulate`` on loopback.

Used by the demo, ``quadmimic bench deploy`` and the tests that talk to the emulator over
the wire from another process.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from quadmimic.core.errors import RobotConnectionError
from robot_deploy.emulator.core import LOOPBACK, control_request


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


class EmulatorProcess:
    """``quadmimic emulate --protocol go1-udp`` in a child process (a context manager).

    Args:
        robot: Robot spec name.
        dynamics: Dynamics JSON of the emulated robot (None: nominal).
        log: File for the emulator's output (None: discarded).
        max_seconds: The emulator stops by itself after this long.
        startup_timeout: Seconds to wait for its control channel to answer.
        physics: Engine behind the wire: "pybullet" or "mujoco".

    Attributes:
        port: Its Go1 UDP port. control_port: Its out-of-band control port.
    """

    def __init__(self, robot: str = "a1", dynamics: str | Path | None = None,
                 log: str | Path | None = None, max_seconds: float = 1800.0,
                 startup_timeout: float = 120.0, physics: str = "pybullet") -> None:
        self.robot, self.physics = robot, physics
        self.port, self.control_port = free_udp_port(), free_udp_port()
        cmd = [sys.executable, "-m", "quadmimic", "emulate", "--protocol", "go1-udp",
               "--robot", robot, "--port", str(self.port), "--control-port",
               str(self.control_port), "--max-seconds", str(max_seconds),
               "--physics", physics]
        if dynamics is not None:
            cmd += ["--dynamics", str(dynamics)]
        self.log = None if log is None else Path(log)
        out = subprocess.DEVNULL if self.log is None else self.log.open("w")
        try:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        self._wait_ready(startup_timeout)

    def _wait_ready(self, timeout: float) -> None:
        where = f"; see {self.log}" if self.log else ""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RobotConnectionError(f"the emulator exited with code "
                                           f"{self.proc.returncode}{where}")
            try:
                if self.request({"op": "stats"}, timeout=0.5).get("ok"):
                    return
            except (TimeoutError, OSError):
                time.sleep(0.2)
        self.close()
        raise RobotConnectionError(f"the emulator did not answer within {timeout:g} s{where}")

    def request(self, request: dict, timeout: float = 2.0) -> dict:
        """One request on the control channel (reset, shove, set_dynamics, stats)."""
        return control_request(self.control_port, request, timeout=timeout)

    def counters(self) -> dict[str, float]:
        """The emulator's packet and watchdog counters."""
        return dict(self.request({"op": "stats"})["counters"])

    def base_position(self) -> list[float]:
        """Where the emulated robot's base is (world m): the operator's ground truth."""
        return list(self.request({"op": "stats"})["base_position"])

    def close(self) -> None:
        """Stop the emulator (SIGTERM, then wait)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
