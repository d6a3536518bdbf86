"""The demo report's plain sentence: what the estimate and the search changed, with spread."""

from __future__ import annotations

from quadmimic.demo import summary_sentence


def _row(mean, std, trips):
    return {"mean": mean, "std": std, "trips": trips, "returns": []}


EVAL = {"held_out_prior": {"fall_rate": 1.0}, "held_out_estimate": {"fall_rate": 1 / 3},
        "held_out_adapted": {"fall_rate": 1 / 3}}


def test_a_search_that_kept_the_estimate_says_so_once():
    estimate = _row(0.215, 0.009, 0)
    em = {"rollouts": 5, "prior": _row(0.120, 0.109, 2), "estimate": estimate,
          "adapted": {**estimate, "same_as": "estimate"}}
    text = summary_sentence({"emulator": em, "eval": EVAL})
    assert text.startswith("The online estimate raised the emulator return from 0.120 ± 0.109 "
                           "(prior, 2 trips) to 0.215 ± 0.009 (+79%, 0 trips;")
    assert "the search kept the estimate as its result (no fixed z beat it" in text
    assert text.count("raised") == 1
    assert text.endswith("prior 100%, estimate 33%, adapted 33%.")


def test_a_fixed_result_is_compared_with_the_prior():
    em = {"rollouts": 3, "prior": _row(0.2, 0.01, 0), "adapted": _row(0.1, 0.05, 1)}
    text = summary_sentence({"emulator": em, "eval": EVAL})
    assert "The adaptation's result lowered the emulator return from 0.200" in text
    assert "(-50%, 1 trips;" in text


def test_the_report_shows_a_kept_estimate_as_the_estimate():
    from quadmimic.demo import render_report

    held = {"mean_return": 123.4, "std_return": 1.0, "mean_episode_seconds": 7.6,
            "fall_rate": 1 / 3, "pose": 0.45, "json": "eval_held_out_estimate.json",
            "gif": "eval_held_out_estimate.gif"}
    estimate = _row(0.215, 0.009, 0)
    figures = {
        "policy": "p", "held_out_dynamics": "d", "robot": "go1", "physics": "mujoco",
        "stem": "go1_trot", "wall_seconds": 1.0,
        "retarget": {"stance_slide_max_m": 0.0, "penetration_max_m": 0.0,
                     "joint_limit_violations": 0, "contact_agreement": 1.0},
        "eval": {"held_out_estimate": held,
                 "held_out_adapted": {**held, "same_as": "estimate"}},
        "adapt": {"start": "estimate", "rollouts": 9, "rollout_seconds": 3.0, "budget": 9,
                  "robot_seconds": 27.0, "rounds": 2, "incumbent_changes": 0,
                  "safety_trips": 1, "final": "estimate", "final_z": None,
                  "returns_png": "adapt_session/returns.png"},
        "emulator": {"rollouts": 5, "rollout_seconds": 3.0, "prior": _row(0.1, 0.1, 2),
                     "estimate": estimate, "adapted": {**estimate, "same_as": "estimate"}},
        "deploy": {"seconds": 10.0, "policy_steps": 300, "commands": 5000, "distance_m": 1.2,
                   "stopped_by": "time", "trip": None, "inference_ms_p50": 0.1,
                   "log": "deploy.jsonl", "emulator_counters": {"commands": 5000}},
    }
    report = render_report(figures)
    assert "| held-out dynamics, the adaptation's result (= the estimate) | 123.4 |" in report
    assert "![held-out, adapted](eval_held_out_estimate.gif)" in report
    assert "| adapted (= the estimate) | 0.215 ± 0.009 | 0 |" in report
    assert "the online estimate, which no fixed z beat in paired rollouts." in report


def test_a_prior_that_beat_the_estimate_is_named_as_the_result():
    prior = _row(0.21, 0.01, 0)
    em = {"rollouts": 5, "prior": prior, "estimate": _row(0.15, 0.05, 1),
          "adapted": {**prior, "same_as": "prior"}}
    text = summary_sentence({"emulator": em, "eval": EVAL})
    assert text.startswith("The online estimate lowered the emulator return from 0.210")
    assert "the search's result is the prior, which beat the estimate in paired rollouts" in text
    assert text.count("lowered") == 1


def test_the_result_is_named_as_what_it_is():
    from quadmimic.demo import _result_words

    assert _result_words({"final_z": None}).startswith("the online estimate")
    assert _result_words({"final_z": [0.0, 0.0], "start": "estimate"}) == (
        "the prior z = 0, which beat the estimate in paired rollouts.")
    assert _result_words({"final_z": [0.0, 0.0], "start": "prior"}) == "the prior z = 0."
    assert _result_words({"final_z": [0.1234, 0.0], "start": "estimate"}) == (
        "the fixed z `[0.123, 0.0]`.")
