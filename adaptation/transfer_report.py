"""The transfer bench's report: its Markdown table (README, ``docs/results.md``)."""

from __future__ import annotations

from typing import Any

from quadmimic.core.fmt import MISSING


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return MISSING
    prog = row["progress_mean"]
    return (f"{row['return_mean']:.3f} ± {row['return_std']:.3f} · "
            f"{100 * row['fall_rate']:.0f} % · "
            + (MISSING if prog is None else f"{prog:.2f} ± {row['progress_std']:.2f}"))


def markdown_table(result: dict[str, Any]) -> str:
    """The benchmark as a README table: rows bundle × robot, columns the figures.

    Each cell is ``return mean ± std · fall rate · progress ratio mean ± std``.
    """
    rows = result["rows"]
    names: list[str] = []
    for r in rows:
        if r["figure"].startswith("adapted_") and r["figure"] not in names:
            names.append(r["figure"])
    names.sort(key=lambda n: int(n.removeprefix("adapted_")))
    columns = ["prior", "estimate", *names, "oracle", "robust"]
    s = result["settings"]
    lines = [
        f"Each cell: return mean ± std over {len(s['seeds'])} seeds · fall rate over all "
        f"evaluation rollouts ({s['eval_rollouts']} per seed, {s['rollout_seconds']:g} s) · "
        "progress ratio mean ± std. `prior`: z = 0 for a latent policy, the policy itself "
        "for a bundle without latent; `estimate`: acting with the bundle's online z "
        "estimator (0 search rollouts); "
        + ("`adapted_N`: the safe search's incumbent after a budget of N rollouts (from the "
           "estimate, or the prior without an estimator; the estimate itself until a fixed z "
           "beats it), scored on fresh rollouts of seeds the search never used; "
           if "adapted" in s else
           "`adapted_N`: the search mean after N rollouts (the AWR search measured before the "
           "safe search), scored on fresh rollouts; ")
        + "`oracle`: the encoder's z of the "
        "robot's true parameters (where dynamics keys describe it); `robust`: the robust "
        "baseline of the same robot and motion; `z spread`: lowest–highest return over "
        "training latents; `ẑ error`: mean squared error per value of the estimate against "
        "the oracle z (the prior's in brackets).",
        "",
        "| bundle | robot | " + " | ".join(columns) + " | z spread | ẑ error |",
        "|---|---|" + "---|" * (len(columns) + 2),
    ]
    keys: list[tuple[str, str]] = []
    for r in rows:
        if (r["bundle"], r["robot"]) not in keys:
            keys.append((r["bundle"], r["robot"]))
    for bundle, robot in keys:
        mine = {r["figure"]: r for r in rows if r["bundle"] == bundle and r["robot"] == robot}
        mine.setdefault("prior", mine.get("policy"))
        cells = [_cell(mine.get(c)) for c in columns]
        spread = mine.get("z_spread")
        cells.append(MISSING if spread is None else
                     f"{spread['spread_min']:.3f}–{spread['spread_max']:.3f}")
        est = mine.get("estimate")
        cells.append(MISSING if est is None or est.get("z_error") is None else
                     f"{est['z_error']:.2f} ({est['z_error_prior']:.2f})")
        lines.append(f"| `{bundle}` | {robot} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


__all__ = ["markdown_table"]
