"""``quadmimic docs``: the committed docs/results.md is what the command writes from the data."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import quadmimic.core.fileio
from quadmimic.core.errors import DocsError
from quadmimic.docs import RESULTS, SECTIONS, documents, render, update
from tests.conftest import REPO

DATA = REPO / "data"

STALE = """# Notes

Prose before, kept as written.

<!-- quadmimic docs: transfer-robots -->
| robot | typed by hand |
<!-- /quadmimic docs: transfer-robots -->

Prose after, kept as written.
"""


def test_committed_results_are_what_the_command_generates():
    """Run ``quadmimic docs`` after changing a bundle or a benchmark JSON, and commit."""
    text = RESULTS.read_text(encoding="utf-8")
    assert render(text, RESULTS, DATA) == text
    for name in set(SECTIONS) - {"evaluation"}:  # every results table is in the document
        assert f"<!-- quadmimic docs: {name} -->" in text


def test_every_bundle_readme_states_its_own_evaluation_as_generated():
    """Each shipped bundle's README.md carries its eval.json figures between markers, as the
    command writes them (and its estimator's error where it has one)."""
    readmes = documents(DATA)[1:]
    bundles = [p for p in (DATA / "policies").iterdir() if (p / "manifest.json").is_file()]
    assert sorted(r.parent for r in readmes) == sorted(bundles)
    for readme in readmes:
        text = readme.read_text(encoding="utf-8")
        assert render(text, readme, DATA) == text, readme
        assert ("**z estimator**" in text) == (readme.parent / "estimator.json").is_file()
        steers = (readme.parent / "commands_random.json").is_file()
        assert ("**Steering, random**" in text) == steers, readme


def test_a_steerable_bundle_states_its_command_evaluations(tmp_path):
    """The figures of ``commands_<script>.json`` in the bundle README's generated section."""
    from quadmimic.docs import bundle_evaluation_section

    shutil.copyfile(DATA / "policies" / "go2_trot" / "eval.json", tmp_path / "eval.json")
    (tmp_path / "commands_random.json").write_text(json.dumps(
        {"episodes": 10, "script_seconds": 20.0, "falls": 0, "speed_error": 0.123,
         "yaw_rate_error": 0.0456, "pose_at_clip_speed": 0.671, "response_seconds": None}))
    text = " ".join(bundle_evaluation_section(DATA, tmp_path).split())
    assert ("**Steering, random** (`commands_random.json`, `trajectory_random.png`): commands "
            "drawn as in training, each held 2–4 s, no fall in 10 episodes of 20.0 s; speed "
            "error 12% of the commanded speed, yaw-rate error 0.05 rad/s, pose 0.67 at the "
            "clip's own speed, command to motion —.") in text
    assert "figure_eight" not in text


def test_results_link_pictures_that_exist():
    text = RESULTS.read_text(encoding="utf-8")
    links = [part.split(")", 1)[0] for part in text.split("](")[1:]]
    pictures = [link for link in links if link.endswith(".png")]
    strips = [link for link in pictures if link.endswith("/strip.png")]
    assert len(strips) == len([p for p in (DATA / "policies").iterdir() if p.is_dir()])
    plots = {link for link in pictures if "/trajectory_" in link}  # the steerable bundles'
    assert plots == {f"../data/policies/{p.parent.name}/{p.name}"
                     for p in (DATA / "policies").glob("*/trajectory_*.png")}
    for link in pictures:
        assert (RESULTS.parent / link).is_file(), link


def test_tables_are_rewritten_and_prose_survives(tmp_path):
    doc = tmp_path / "notes.md"
    doc.write_text(STALE)
    assert update(doc, DATA) is True
    text = doc.read_text()
    assert "typed by hand" not in text and "| payload | MuJoCo | yes |" in text
    assert text.startswith("# Notes\n\nProse before, kept as written.\n")
    assert text.endswith("\n\nProse after, kept as written.\n")
    assert update(doc, DATA) is False  # a second run changes nothing
    assert update(doc, DATA, check=True) is False


def test_check_writes_nothing(tmp_path):
    doc = tmp_path / "notes.md"
    doc.write_text(STALE)
    assert update(doc, DATA, check=True) is True
    assert doc.read_text() == STALE


def test_the_document_is_replaced_atomically(tmp_path, monkeypatch):
    """A write that fails at the rename leaves the old document whole and no temp file."""
    doc = tmp_path / "notes.md"
    doc.write_text(STALE)

    def fail(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(quadmimic.core.fileio.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        update(doc, DATA)
    assert doc.read_text() == STALE
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no markers here\n", "holds no generated section"),
        ("<!-- quadmimic docs: skills -->\nopen\n", "'skills' has no closing marker"),
        ("<!-- quadmimic docs: plots -->\n<!-- /quadmimic docs: plots -->\n",
         "unknown generated section 'plots'"),
    ],
)
def test_bad_markers_are_one_error_naming_the_file(tmp_path, text, message):
    doc = tmp_path / "notes.md"
    doc.write_text(text)
    with pytest.raises(DocsError, match=message) as err:
        update(doc, DATA)
    assert str(doc) in str(err.value)
    assert doc.read_text() == text


def test_missing_or_broken_data_names_the_file(tmp_path):
    doc = tmp_path / "notes.md"
    doc.write_text(STALE)
    data = tmp_path / "data"
    with pytest.raises(DocsError, match=r"transfer\.json: not found"):
        update(doc, data)
    (data / "benchmarks").mkdir(parents=True)
    (data / "benchmarks" / "transfer.json").write_text('{"rows": [\n')
    with pytest.raises(DocsError, match=r"transfer\.json, line 2: not valid JSON"):
        update(doc, data)
    (data / "benchmarks" / "transfer.json").write_text(json.dumps(
        {"rows": [], "robots": {}, "settings": {"bundles": ["a", "b"], "finished": ["a"],
                                                "complete": False}}))
    with pytest.raises(DocsError, match=r"unfinished run \(1 of 2 bundles\).*--resume"):
        update(doc, data)
    assert doc.read_text() == STALE


def test_command_line(tmp_path):
    """One line and exit 2 on a bad document; --check exits 1 when the tables are stale."""
    def quadmimic(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "quadmimic", "docs", *args], cwd=REPO,
                              capture_output=True, text=True, timeout=120)

    bad = tmp_path / "bad.md"
    bad.write_text("no markers\n")
    proc = quadmimic(str(bad))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "bad.md" in proc.stderr and "holds no generated section" in proc.stderr
    doc = tmp_path / "notes.md"
    doc.write_text(STALE)
    proc = quadmimic(str(doc), "--check")
    assert proc.returncode == 1 and "out of date" in proc.stderr
    assert doc.read_text() == STALE
    proc = quadmimic(str(doc))
    assert proc.returncode == 0, proc.stderr
    assert "| payload | MuJoCo | yes |" in doc.read_text()
    assert quadmimic(str(doc), "--check").returncode == 0


def test_missing_document(tmp_path: Path):
    with pytest.raises(DocsError, match="not found"):
        update(tmp_path / "results.md", DATA)


def test_a_broken_bundle_file_names_it(tmp_path):
    bundle = tmp_path / "data" / "policies" / "b"
    bundle.mkdir(parents=True)
    (bundle / "manifest.json").write_text("{")
    doc = tmp_path / "notes.md"
    doc.write_text("<!-- quadmimic docs: skills -->\n<!-- /quadmimic docs: skills -->\n")
    with pytest.raises(DocsError, match=r"manifest\.json, line 1: not valid JSON"):
        update(doc, tmp_path / "data")


def test_the_steering_table_lists_each_steerable_bundles_scripts(tmp_path):
    from quadmimic.docs import steering_section

    policies = tmp_path / "data" / "policies"
    for name in ("plain", "steer"):
        (policies / name).mkdir(parents=True)
        shutil.copyfile(DATA / "policies" / "go2_trot" / "manifest.json",
                        policies / name / "manifest.json")
    assert steering_section(tmp_path / "data", tmp_path) == (
        "No shipped bundle is steerable yet.\n")
    (policies / "steer" / "commands_figure_eight.json").write_text(json.dumps(
        {"episodes": 2, "script_seconds": 15.708, "falls": 1, "speed_error": 0.2,
         "yaw_rate_error": 0.127, "pose_at_clip_speed": None, "response_seconds": 0.9}))
    table = steering_section(tmp_path / "data", tmp_path / "docs")
    assert table.splitlines()[2] == (
        "| `steer` | figure_eight | 2 × 15.7 s | 1 | 20% | 0.13 | — | 0.90 s | "
        "[plot](../data/policies/steer/trajectory_figure_eight.png) |")
    assert len(table.splitlines()) == 3
