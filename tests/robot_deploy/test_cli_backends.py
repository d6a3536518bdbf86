"""`quadmimic emulate` and `quadmimic deploy --backend go1-udp` as separate processes."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from robot_deploy.emulator.core import control_request


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_deploy_through_the_go1_wire_protocol(tiny_policy):
    port, control, local = _free_udp_port(), _free_udp_port(), _free_udp_port()
    emulator = subprocess.Popen(
        [sys.executable, "-m", "quadmimic", "emulate", "--protocol", "go1-udp", "--robot", "a1",
         "--port", str(port), "--control-port", str(control), "--max-seconds", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:  # wait until the emulator answers on its control port
            try:
                if control_request(control, {"op": "stats"}, timeout=0.5)["ok"]:
                    break
            except (TimeoutError, OSError):
                time.sleep(0.2)
        deploy = subprocess.run(
            [sys.executable, "-m", "quadmimic", "deploy", str(tiny_policy), "--backend",
             "go1-udp", "--port", str(port), "--local-port", str(local), "--max-seconds", "2"],
            capture_output=True, text=True, timeout=120)
        assert deploy.returncode == 0, deploy.stderr[-2000:]
        text = deploy.stdout + deploy.stderr
        summary = json.loads(text[text.index("{"):text.rindex("}") + 1])
        assert summary["commands"] > 100
        assert summary["stopped_by"] in ("time", "safety")
        stats = control_request(control, {"op": "stats"})
        assert stats["counters"]["commands"] > 100
        assert not any(k.startswith("dropped") and v for k, v in stats["counters"].items())
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
