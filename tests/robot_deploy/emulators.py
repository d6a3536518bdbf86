"""The Go2 DDS emulator as a separate process, for tests that drive it through the wire."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from robot_deploy.backends.go2_dds import current_dds_domain, init_dds
from robot_deploy.emulator.core import control_request
from robot_deploy.emulator.process import free_udp_port
from tests.conftest import REPO


@contextmanager
def go2_dds_process(log_dir: Path, *, max_seconds: float, startup_timeout: float,
                    physics: str = "mujoco") -> Iterator[tuple[int, int, dict]]:
    """Start ``robot_deploy.emulator.go2_dds`` on loopback and wait for its control channel.

    The DDS domain is this process's (DDS joins one per process) or a random one, joined here.

    Args:
        log_dir: Where its output goes (``emu.log``).
        max_seconds: The emulator's own lifetime (s).
        startup_timeout: Seconds to wait for its first ``stats`` answer.
        physics: The emulator's physics engine.

    Yields:
        (DDS domain, control port, the first ``stats`` answer); the process is terminated
        on exit.
    """
    current = current_dds_domain()
    domain = current if current is not None else random.SystemRandom().randint(1, 200)
    init_dds(domain, "lo")
    port = free_udp_port()
    log = (log_dir / "emu.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "robot_deploy.emulator.go2_dds", "--domain", str(domain),
         "--control-port", str(port), "--max-seconds", str(max_seconds), "--physics", physics],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            assert proc.poll() is None, (log_dir / "emu.log").read_text()[-2000:]
            try:
                stats = control_request(port, {"op": "stats"}, timeout=0.3)
                break
            except (TimeoutError, OSError):
                assert time.monotonic() < deadline, "emulator did not start"
                time.sleep(0.2)
        yield domain, port, stats
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()
