"""The retargeting benchmark function (``quadmimic bench retarget``): keys, not timings."""

from __future__ import annotations

import shutil
import sys

from motion_retarget.bench import RETARGET_TARGETS, bench_retarget
from tests.conftest import DEFAULT_CLIPS


def test_bench_retarget_returns_the_json_it_writes(tmp_path):
    shutil.copy(DEFAULT_CLIPS / "dog_trot_joint_pos.txt", tmp_path)
    seen = []
    out = bench_retarget(tmp_path, ["a1"], variants=False,
                         command=[sys.executable, "-m", "quadmimic", "retarget"],
                         progress=lambda done, total: seen.append((done, total)))
    assert set(out) == {"clips_folder", "robots", "targets", "worst_locomotion", "end_to_end",
                        "pass", "runs"}
    assert out["targets"] == RETARGET_TARGETS
    assert seen == [(0, 1), (1, 1)]
    assert [(r["clip"], r["variant"], r["robot"]) for r in out["runs"]] == [
        ("dog_trot", "original", "a1")]
    assert out["end_to_end"]["clip"] == "dog_trot_joint_pos.txt"
    assert out["end_to_end"]["frames"] == out["runs"][0]["frames"]
    assert set(out["pass"]) == {"stance_slide", "penetration", "joint_limits",
                                "contact_agreement", "speed"}
