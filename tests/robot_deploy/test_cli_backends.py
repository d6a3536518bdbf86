"""`quadmimic emulate` and `quadmimic deploy --backend go1-udp` as separate processes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from robot_deploy.emulator.process import EmulatorProcess, free_udp_port


@pytest.mark.slow
def test_deploy_through_the_go1_wire_protocol(tiny_policy):
    with EmulatorProcess("a1", max_seconds=60) as emulator:
        port, local = emulator.port, free_udp_port()
        deploy = subprocess.run(
            [sys.executable, "-m", "quadmimic", "deploy", str(tiny_policy), "--backend",
             "go1-udp", "--port", str(port), "--local-port", str(local), "--max-seconds", "2"],
            capture_output=True, text=True, timeout=120)
        assert deploy.returncode == 0, deploy.stderr[-2000:]
        text = deploy.stdout + deploy.stderr
        summary = json.loads(text[text.index("{"):text.rindex("}") + 1])
        assert summary["commands"] > 100
        assert summary["stopped_by"] in ("time", "safety")
        counters = emulator.counters()
        assert counters["commands"] > 100
        assert not any(k.startswith("dropped") and v for k, v in counters.items())
