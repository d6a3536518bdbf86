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
