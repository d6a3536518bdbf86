"""The transfer benchmark: a tiny real run (PyBullet and MuJoCo), noise, held-out robot files."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("mujoco")

from adaptation.rollouts import TransferConfig, rollout_seed
from adaptation.transfer_robots import (
    NOMINAL_ROBOTS,
    TransferBenchError,
    build_backend,
    load_held_out,
    outside_ranges,
    select_robots,
)
from quadmimic.core.errors import DynamicsError
from quadmimic.core.geometry import quat_to_matrix, roll_pitch, yaw_of
from robot_deploy.backends.mujoco import MujocoBackend
from robot_deploy.noise import NoisyRobot, SensorNoise
from sim_training.randomization import RandomizationRanges
from tests.conftest import REPO

HELD_OUT = REPO / "data" / "dynamics" / "held_out_mujoco.json"
ROBOTS = ["pybullet_nominal", "mujoco_nominal", "noisy_worn"]
SEEDS = [0, 1]
ADAPT = [1, 5]
"""Search budgets: the start rollout alone, then it and one round of two pairs."""


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """``quadmimic bench transfer`` as a user runs it: a1_trot, 3 robots, 2 seeds, 1 s."""
    out = tmp_path_factory.mktemp("transfer")
    proc = subprocess.run(
        [sys.executable, "-m", "quadmimic", "bench", "transfer", "--json", str(out / "t.json"),
         "--markdown", str(out / "t.md"), "--policy", str(REPO / "data" / "policies" / "a1_trot"),
         "--robots", ",".join(ROBOTS), "--seeds", ",".join(map(str, SEEDS)),
         "--rollout-seconds", "1", "--eval-rollouts", "1",
         "--adapt-rollouts", ",".join(map(str, ADAPT)), "--pairs", "2"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads((out / "t.json").read_text()), (out / "t.md").read_text()


@pytest.mark.slow
def test_json_has_every_row(tiny_run):
    result, markdown = tiny_run
    got = {(r["bundle"], r["robot"], r["figure"]) for r in result["rows"]}
    want = {("a1_trot", robot, fig) for robot in ROBOTS
            for fig in ("prior", "estimate", "robust")}  # a1_trot carries an estimator
    want |= {("a1_trot", "noisy_worn", f"adapted_{n}") for n in ADAPT}
    want.add(("a1_trot", "noisy_worn", "oracle"))  # the encoder of its true parameters
    assert got == want
    for row in result["rows"]:
        assert [s["seed"] for s in row["per_seed"]] == SEEDS
        assert 0.0 <= row["return_mean"] <= 1.0 and row["return_std"] >= 0.0
        assert 0.0 <= row["fall_rate"] <= 1.0 and row["rollouts"] == len(SEEDS)
        assert row["progress_mean"] is not None  # the trot travels
        if row["figure"] == "robust":
            assert row["robust_bundle"] == "a1_trot_robust"
    assert set(result["robots"]) == set(ROBOTS)
    assert result["robots"]["noisy_worn"]["outside_training_ranges"]
    assert result["wall_seconds"] > 0
    assert markdown == result["markdown"]
    for robot in ROBOTS:
        assert f"| `a1_trot` | {robot} |" in markdown
    assert "adapted_5" in markdown.splitlines()[2]
    [noisy] = [r for r in result["rows"] if r["robot"] == "noisy_worn"
               and r["figure"] == "estimate"]
    assert noisy["z_error"] is not None and noisy["z_error_prior"] > 0.0  # against the oracle


@pytest.mark.slow
def test_adapted_z_is_scored_on_fresh_rollouts(tiny_run):
    result, _ = tiny_run
    rows = {(r["robot"], r["figure"]): r for r in result["rows"]}
    for n in ADAPT:
        for k, per in enumerate(rows[("noisy_worn", f"adapted_{n}")]["per_seed"]):
            searched, scored = set(per["search_seeds"]), set(per["eval_seeds"])
            # What the search actually ran: whole rounds within the budget, pairs sharing seeds.
            assert len(per["search_seeds"]) == per["search_rollouts"] == 1 + 4 * (n // 5)
            assert per["budget"] == n and per["start"] == "estimate"  # its estimator's ẑ
            assert not searched & scored  # never scored on the noise/shoves that selected it
            assert len(per["start_z"]) == 8
            # The result: the estimate itself, or a fixed z that beat it in a round.
            assert (per["z"] == "estimate") == (per["incumbent_changes"] == 0)
            assert per["z"] == "estimate" or len(per["z"]) == 8
            if n == 1:  # the start alone: the incumbent is the estimate
                assert per["z"] == "estimate" and per["incumbent_changes"] == 0
            # The prior is scored on the very same evaluation rollouts (paired comparison).
            assert per["eval_seeds"] == rows[("noisy_worn", "prior")]["per_seed"][k]["eval_seeds"]
    # Different benchmark seeds search and evaluate on different rollouts.
    first, second = rows[("noisy_worn", "adapted_5")]["per_seed"]
    assert not set(first["eval_seeds"]) & set(second["eval_seeds"])
    assert not set(first["search_seeds"]) & set(second["search_seeds"])


def test_the_bench_scores_the_estimate_and_the_safe_search(tiny_bundle_with_estimator):
    """In process, one held-out robot, one seed: a bundle with an estimator gets its row."""
    from adaptation.transfer import bench_transfer

    robot = select_robots(load_held_out(HELD_OUT), ["noisy_worn"])[0]
    config = TransferConfig(seeds=(0,), rollout_seconds=0.5, ramp_seconds=0.1,
                            eval_rollouts=1, adapt_checkpoints=(1, 5))
    result = bench_transfer([tiny_bundle_with_estimator], [robot], config)
    rows = {r.figure: r for r in result.rows}
    assert set(rows) == {"prior", "estimate", "oracle", "adapted_1", "adapted_5"}
    estimate = rows["estimate"].per_seed[0]
    assert len(estimate["rollouts"][0]["mean_z_hat"]) == 8  # it acted with the online ẑ
    assert estimate["eval_seeds"] == rows["prior"].per_seed[0]["eval_seeds"]  # paired
    # The estimate's distance to the oracle z, and the prior's, recomputed here.
    oracle = np.asarray(rows["oracle"].per_seed[0]["z"])
    hat = np.asarray(estimate["rollouts"][0]["mean_z_hat"])
    assert rows["estimate"].z_error == pytest.approx(np.mean((hat - oracle) ** 2), rel=1e-6)
    assert rows["estimate"].z_error_prior == pytest.approx(np.mean(oracle ** 2))
    assert rows["prior"].z_error is None
    adapted = rows["adapted_5"].per_seed[0]
    assert adapted["start"] == "estimate" and adapted["search_rollouts"] == 5
    # After the start rollout alone the result is the estimate itself, scored on the very
    # rollouts of the estimate figure (no z frozen from it).
    after_start = rows["adapted_1"].per_seed[0]
    assert after_start["z"] == "estimate" and after_start["incumbent_changes"] == 0
    assert after_start["rollouts"] == estimate["rollouts"]
    assert not set(adapted["search_seeds"]) & set(adapted["eval_seeds"])
    header = result.markdown.splitlines()[2]
    assert header.index("estimate") < header.index("adapted_1") < header.index("oracle")
    assert f"{rows['estimate'].z_error:.2f} ({rows['estimate'].z_error_prior:.2f})" in (
        result.markdown)


def test_rollout_seed_streams_do_not_overlap():
    search = {rollout_seed(s, "search", i) for s in range(3) for i in range(50)}
    evals = {rollout_seed(s, "eval", i) for s in range(3) for i in range(50)}
    assert len(search) == len(evals) == 150 and not search & evals


def test_noisy_robot_noise_matches_the_configured_std():
    noise = SensorNoise(joint_angle=0.02, joint_speed=0.5, gyro=0.1, roll_pitch=0.03)
    backend = MujocoBackend("a1")
    backend.connect()
    try:
        truth = backend.read()  # lockstep: nothing moves between reads without commands
        noisy = NoisyRobot(backend, noise, seed=3)
        reads = [noisy.read() for _ in range(3000)]
    finally:
        backend.close()
    dq = np.array([r.q - truth.q for r in reads])
    ddq = np.array([r.dq - truth.dq for r in reads])
    dgyro = np.array([r.gyro - truth.gyro for r in reads])
    drp = np.array([r.roll_pitch - truth.roll_pitch for r in reads])
    for diff, std in ((dq, 0.02), (ddq, 0.5), (dgyro, 0.1), (drp, 0.03)):
        np.testing.assert_allclose(diff.std(axis=0), std, rtol=0.08)
        np.testing.assert_allclose(diff.mean(axis=0), 0.0, atol=4 * std / np.sqrt(len(reads)))
    yaw = float(yaw_of(quat_to_matrix(truth.quat)))
    assert all(abs(float(yaw_of(quat_to_matrix(r.quat))) - yaw) < 1e-3 for r in reads[:100])
    np.testing.assert_allclose(roll_pitch(quat_to_matrix(reads[0].quat)), reads[0].roll_pitch)
    np.testing.assert_array_equal(reads[0].tau, truth.tau)  # not noised


def test_noisy_robot_is_reproducible_from_its_seed_and_silent_without_noise():
    backend = MujocoBackend("a1")
    backend.connect()
    try:
        noisy = NoisyRobot(backend, SensorNoise(joint_angle=0.01), seed=5)
        a = [noisy.read().q for _ in range(3)]
        noisy.reseed(5)
        b = [noisy.read().q for _ in range(3)]
        noisy.reseed(6)
        c = noisy.read().q
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a[0], c)
        np.testing.assert_array_equal(NoisyRobot(backend, SensorNoise()).read().q,
                                      backend.read().q)
    finally:
        backend.close()
    with pytest.raises(ValueError, match="gyro"):
        SensorNoise(gyro=-0.1)


def test_shipped_held_out_robots_lie_outside_the_training_ranges():
    robots = load_held_out(HELD_OUT)
    assert {r.name for r in robots} >= {"payload", "slippery", "latency", "low_battery",
                                        "noisy_worn"}
    readme = (HELD_OUT.parent / "README.md").read_text()
    for robot in robots:
        outside = outside_ranges(robot.dynamics, RandomizationRanges())
        assert outside or robot.contact, f"{robot.name} lies inside the training ranges"
        assert f"`{robot.name}`" in readme  # documented
        for key in outside:
            assert key in readme
    by_name = {r.name: r for r in robots}
    assert not by_name["noisy_worn"].sensor_noise.silent
    backend = build_backend(by_name["low_battery"], "a1")  # torque-speed curve slowed
    assert backend.actuator.max_speed == pytest.approx((10.5, 10.5, 10.5))


def _write(tmp_path, robots, **top):
    path = tmp_path / "h.json"
    path.write_text(json.dumps({"robots": robots, **top}))
    return path


@pytest.mark.parametrize(("robots", "top", "message"), [
    ([{"name": "a", "dynamic": {}}], {}, "unknown key 'dynamic'"),
    ([{"name": "a", "dynamics": {"payload": 2}}], {}, "unknown dynamics key 'payload'"),
    ([{"name": "a", "sensor_noise": {"imu": 0.1}}], {}, "unknown sensor_noise key 'imu'"),
    ([{"name": "a", "sensor_noise": {"gyro": -1}}], {}, "gyro"),
    ([{"name": "a", "torque_speed": 0}], {}, "torque_speed"),
    ([{"name": "a", "contact": {"cone": "round"}}], {}, "cone"),
    ([{"name": "a", "contact": {"solref": [0.02]}}], {}, "solref"),
    ([{"name": "a", "contact": {"friction": 1}}], {}, "unknown contact key 'friction'"),
    ([{"name": "a", "contact": {"physics_hz": 200}}], {}, "physics_hz"),
    ([{"name": "a"}, {"name": "a"}], {}, "taken"),
    ([{"name": "mujoco_nominal"}], {}, "taken"),
    ([{"dynamics": {}}], {}, "name"),
    ([{"name": "a"}], {"extra": 1}, "unknown key 'extra'"),
    ([], {}, "no robot"),
])
def test_bad_held_out_files_fail_with_one_line(tmp_path, robots, top, message):
    path = _write(tmp_path, robots, **top)
    with pytest.raises(DynamicsError, match=message) as err:
        load_held_out(path)
    assert "\n" not in str(err.value) and str(path) in str(err.value)


def test_bad_held_out_file_on_the_command_line_is_one_line(tmp_path):
    path = _write(tmp_path, [{"name": "a", "sensor_nosie": {}}])
    proc = subprocess.run(
        [sys.executable, "-m", "quadmimic", "bench", "transfer", "--json",
         str(tmp_path / "t.json"), "--held-out", str(path)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "1000"})  # rich would wrap the line at 80
    assert proc.returncode != 0
    lines = [x for x in proc.stderr.splitlines() if x.strip() and "pybullet build" not in x]
    assert len(lines) == 1 and "sensor_nosie" in lines[0], proc.stderr
    assert not (tmp_path / "t.json").exists()


def test_options_are_checked():
    with pytest.raises(TransferBenchError, match="ascending"):
        TransferConfig(adapt_checkpoints=(10, 5))
    with pytest.raises(TransferBenchError, match="pairs"):
        TransferConfig(pairs=1)
    with pytest.raises(TransferBenchError, match="seeds"):
        TransferConfig(seeds=())
    with pytest.raises(TransferBenchError, match="unknown robot 'moon'"):
        select_robots(load_held_out(HELD_OUT), ["moon"])
    assert [r.name for r in select_robots([], None)] == list(NOMINAL_ROBOTS)


def test_contact_variants_change_the_mujoco_model_and_have_no_oracle():
    from adaptation.transfer import oracle_latent
    from sim_training.bundle import PolicyBundle

    by_name = {r.name: r for r in load_held_out(HELD_OUT)}
    assert {"soft_ground", "hard_bouncy", "pyramidal_cone", "big_feet",
            "fine_step"} <= set(by_name)
    nominal = build_backend(select_robots([], ["mujoco_nominal"])[0], "go2")
    nominal.connect()
    feet = build_backend(by_name["big_feet"], "go2")
    feet.connect()
    soft = build_backend(by_name["soft_ground"], "go2")
    soft.connect()
    fine = build_backend(by_name["fine_step"], "go2")
    fine.connect()
    try:
        foot = nominal.index.foot_geoms[0]
        assert feet.model.geom_size[foot, 0] == pytest.approx(
            1.3 * nominal.model.geom_size[foot, 0])
        assert soft.model.geom_solref[foot, 0] == pytest.approx(0.05)
        assert fine.model.opt.timestep == pytest.approx(1 / 2000)
        # Bigger feet start on the ground, not in it.
        lift = feet.base_pose()[0][2] - nominal.base_pose()[0][2]
        assert lift == pytest.approx(0.3 * feet.spec.foot_radius, abs=1e-6)
    finally:
        for b in (nominal, feet, soft, fine):
            b.close()
    bundle = PolicyBundle.load(REPO / "data" / "policies" / "go2_trot_wide")
    assert oracle_latent(bundle, by_name["soft_ground"]) is None
    z = oracle_latent(bundle, by_name["payload"])
    assert z is not None and z.shape == (bundle.z_dim,)
    assert np.allclose(z, bundle.encode(by_name["payload"].dynamics)[0])


def test_the_spread_of_returns_across_latents():
    from adaptation.transfer import spread_figures, training_latents
    from sim_training.bundle import PolicyBundle

    bundle = PolicyBundle.load(REPO / "data" / "policies" / "go2_trot_wide")
    zs = training_latents(bundle, 0, 3)
    assert len(zs) == 3 and not np.allclose(zs[0], zs[1])
    assert [z.tolist() for z in training_latents(bundle, 0, 3)] == [z.tolist() for z in zs]
    fig = spread_figures([{"seed": 0, "return": 0.2}, {"seed": 0, "return": 0.4},
                          {"seed": 1, "return": 0.5}, {"seed": 1, "return": 0.5}])
    assert fig["spread_min"] == 0.2 and fig["spread_max"] == 0.5
    assert fig["spread_std"] == pytest.approx(np.std([0.2, 0.4], ddof=1) / 2)


def test_an_interrupted_bench_continues_from_its_file(tiny_bundle_with_estimator, tmp_path):
    """After every bundle the result so far is handed out; a rerun keeps finished bundles."""
    from adaptation.transfer import bench_transfer, load_partial

    robots = select_robots(load_held_out(HELD_OUT), ["pybullet_nominal"])
    config = TransferConfig(seeds=(0,), rollout_seconds=0.3, ramp_seconds=0.1,
                            eval_rollouts=1, adapt_checkpoints=(1,))
    path = tmp_path / "t.json"
    partials = []

    def write(partial):
        partials.append(partial)
        path.write_text(json.dumps(partial.to_json()))

    first = bench_transfer([tiny_bundle_with_estimator], robots, config, on_bundle=write)
    assert [p.settings["finished"] for p in partials] == [[tiny_bundle_with_estimator.name]]
    assert first.settings["complete"] and partials[0].settings["complete"]
    ran = []
    again = bench_transfer([tiny_bundle_with_estimator], robots, config,
                           previous=load_partial(path), progress=lambda *a: ran.append(a))
    assert not ran  # nothing run again
    assert [r.to_json() for r in again.rows] == [r.to_json() for r in first.rows]
    assert again.wall_seconds >= first.wall_seconds
    # Other settings or robots, or a file that is not the bench's: one clear error.
    with pytest.raises(TransferBenchError, match="other settings \\(seeds\\)"):
        bench_transfer([tiny_bundle_with_estimator], robots,
                       dataclasses.replace(config, seeds=(1,)), previous=load_partial(path))
    other = select_robots(load_held_out(HELD_OUT), ["mujoco_nominal"])
    with pytest.raises(TransferBenchError, match="other robots"):
        bench_transfer([tiny_bundle_with_estimator], other, config, previous=load_partial(path))
    path.write_text('{"rows": [')
    with pytest.raises(TransferBenchError, match="not a transfer benchmark file"):
        load_partial(path)


def test_an_unfinished_bundle_is_run_again(tiny_bundle_with_estimator, tmp_path):
    """Rows of a bundle the file does not list as finished are dropped when it is read."""
    from adaptation.transfer import bench_transfer, load_partial

    robots = select_robots(load_held_out(HELD_OUT), ["pybullet_nominal"])
    config = TransferConfig(seeds=(0,), rollout_seconds=0.3, ramp_seconds=0.1,
                            eval_rollouts=1, adapt_checkpoints=(1,))
    data = bench_transfer([tiny_bundle_with_estimator], robots, config).to_json()
    data["settings"]["finished"] = []  # as if stopped before the bundle's last robot
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    assert load_partial(path).rows == []
    ran = []
    bench_transfer([tiny_bundle_with_estimator], robots, config, previous=load_partial(path),
                   progress=lambda *a: ran.append(a))
    assert ran


def test_runs_on_different_bundles_merge_and_go_on_as_one(tiny_bundle_with_estimator,
                                                            tiny_policy, tmp_path):
    """Two runs of the same settings, each on one bundle (two machines): merged, the bench
    has nothing left to run and keeps both bundles' rows; the same bundle twice, or other
    settings, is one clear error."""
    from adaptation.transfer import bench_transfer, load_partial, merge_partials

    robots = select_robots(load_held_out(HELD_OUT), ["pybullet_nominal"])
    config = TransferConfig(seeds=(0,), rollout_seconds=0.3, ramp_seconds=0.1,
                            eval_rollouts=1, adapt_checkpoints=(1,))
    files = []
    for name, bundle in (("a", tiny_bundle_with_estimator), ("b", tiny_policy)):
        files.append(tmp_path / f"{name}.json")
        files[-1].write_text(json.dumps(bench_transfer([bundle], robots, config).to_json()))
    a, b = (load_partial(f) for f in files)
    merged = merge_partials([a, b])
    names = [tiny_bundle_with_estimator.name, tiny_policy.name]
    assert merged.settings["finished"] == names and not merged.settings["complete"]
    assert [r.to_json() for r in merged.rows] == [r.to_json() for r in (*a.rows, *b.rows)]
    assert merged.wall_seconds == pytest.approx(a.wall_seconds + b.wall_seconds)
    ran = []
    whole = bench_transfer([tiny_bundle_with_estimator, tiny_policy], robots, config,
                           previous=merged, progress=lambda *x: ran.append(x))
    assert not ran and whole.settings["complete"]
    assert {r.bundle for r in whole.rows} == set(names)
    with pytest.raises(TransferBenchError, match="more than one file"):
        merge_partials([a, a])
    other = bench_transfer([tiny_policy], robots, dataclasses.replace(config, seeds=(1,)))
    with pytest.raises(TransferBenchError, match="other settings \\(seeds\\)"):
        merge_partials([a, other])
    with pytest.raises(TransferBenchError, match="nothing to merge"):
        merge_partials([])


def test_merge_without_resume_is_a_one_line_error(tmp_path):
    from tests.conftest import run_cli

    proc = run_cli("bench", "transfer", "--json", str(tmp_path / "t.json"), "--merge",
                   str(tmp_path / "other.json"), timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--merge continues a run: give --resume too" in proc.stderr
    assert not (tmp_path / "t.json").exists()
