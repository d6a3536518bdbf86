"""The skill catalogue reads every shipped bundle."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sim_training.skills import markdown_table, skill_rows
from tests.conftest import REPO

POLICIES = REPO / "data" / "policies"


def test_every_bundle_has_a_row_with_its_figures():
    rows = skill_rows(POLICIES)
    bundles = sorted(p.name for p in POLICIES.iterdir() if (p / "manifest.json").is_file())
    assert [r["name"] for r in rows] == bundles
    for r in rows:
        assert r["robot"] in ("a1", "go1", "go2")
        assert r["samples"] > 0 and r["pose"] >= 0.6 and r["fall_rate"] == 0.0
    go2_trot = next(r for r in rows if r["name"] == "go2_trot")
    assert go2_trot["source"] == "dog_trot_joint_pos.txt"
    table = markdown_table(rows, relative_to=REPO)
    assert len(table.strip().splitlines()) == 2 + len(rows)
    for r in rows:
        if r["strip"]:
            assert f"(data/policies/{r['name']}/strip.png)" in table
        line = next(ln for ln in table.splitlines() if ln.startswith(f"| `{r['name']}` |"))
        assert line.split(" | ")[3] != f"`{r['name']}`"  # no row is its own warm start
    a1_trot = next(ln for ln in table.splitlines() if ln.startswith("| `a1_trot` |"))
    assert "`data/training/a1_trot`" in a1_trot  # the root run, not the bundle


@pytest.mark.slow
def test_skills_command(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "quadmimic", "skills", str(POLICIES),
                           "--markdown"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "| `go2_trot` | go2 |" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "quadmimic", "skills", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    lines = [ln for ln in proc.stderr.splitlines()
             if ln.strip() and not ln.startswith("pybullet build time")]
    assert proc.returncode == 2 and len(lines) == 1 and "no policy bundle" in lines[0]
