"""Brinson-Fachler attribution of a strategy's excess return over a benchmark, by segment
(market category).

Per segment i: portfolio and benchmark weights w_p,i and w_b,i (shares of the capital each
deployed, summing to 1), and returns R_p,i and R_b,i (P&L over the capital deployed in the
segment). With R_b = Σ w_b,i R_b,i:
- allocation  (w_p,i − w_b,i)(R_b,i − R_b): weighting segments that beat the benchmark;
- selection   w_b,i (R_p,i − R_b,i): choosing better trades (wallets) within a segment;
- interaction (w_p,i − w_b,i)(R_p,i − R_b,i).
The three sum, over segments, to R_p − R_b exactly. (The users' documents write allocation
as (w_p,i − w_b,i) R_b,i, the Brinson-Hood-Beebower form; it has the same total but moves
credit between segments. Fachler's form credits overweighting a segment only when the
segment beat the whole benchmark.)
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Attribution:
    by_segment: pd.DataFrame  # segment, w_p, w_b, r_p, r_b, allocation, selection, interaction
    portfolio_return: float
    benchmark_return: float

    @property
    def excess(self) -> float:
        return self.portfolio_return - self.benchmark_return

    def totals(self) -> dict[str, float]:
        t = self.by_segment[["allocation", "selection", "interaction"]].sum()
        return {k: float(v) for k, v in t.items()}

    def selection_share(self) -> float:
        """Selection's share of the excess return (the documents target > 0.7); NaN when the
        strategy did not beat the benchmark (a share of a shortfall says nothing)."""
        return self.totals()["selection"] / self.excess if self.excess > 1e-12 else float("nan")


def brinson_fachler(segments: pd.DataFrame) -> Attribution:
    """``segments``: one row per segment with ``segment``, ``w_p``, ``w_b``, ``r_p``, ``r_b``.
    Weights are normalised to sum to 1 on each side; a segment one side never traded has
    weight 0 there, and its return on that side is taken as the other side's (so neither
    selection nor interaction is credited for it)."""
    s = segments.copy()
    for w in ("w_p", "w_b"):
        total = s[w].sum()
        if total <= 0:
            raise ValueError(f"the {w} weights sum to {total}: nothing was deployed on that side")
        s[w] = s[w] / total
    s["r_p"] = s["r_p"].where(s["w_p"] > 0, s["r_b"])
    s["r_b"] = s["r_b"].where(s["w_b"] > 0, s["r_p"])
    s[["r_p", "r_b"]] = s[["r_p", "r_b"]].fillna(0.0)
    rb = float((s["w_b"] * s["r_b"]).sum())
    rp = float((s["w_p"] * s["r_p"]).sum())
    s["allocation"] = (s["w_p"] - s["w_b"]) * (s["r_b"] - rb)
    s["selection"] = s["w_b"] * (s["r_p"] - s["r_b"])
    s["interaction"] = (s["w_p"] - s["w_b"]) * (s["r_p"] - s["r_b"])
    return Attribution(s.reset_index(drop=True), rp, rb)


def segment_returns(positions: pd.DataFrame, segment: str = "category") -> pd.DataFrame:
    """Weight and return per segment of a strategy's positions: ``positions`` has
    ``cost_usd`` (capital deployed, fees included) and ``pnl_usd`` (realized, or marked at
    the end) per position. Returns segment, weight (share of cost), return (P&L / cost)."""
    g = positions.groupby(segment, dropna=False)[["cost_usd", "pnl_usd"]].sum()
    g = g[g["cost_usd"] > 0]
    return pd.DataFrame({"segment": g.index.astype(str), "weight": g["cost_usd"] / g["cost_usd"].sum(),
                         "return": g["pnl_usd"] / g["cost_usd"]}).reset_index(drop=True)


def attribute(strategy: pd.DataFrame, benchmark: pd.DataFrame, segment: str = "category") -> Attribution:
    """Brinson-Fachler of a strategy's positions against a benchmark's, by ``segment``."""
    p = segment_returns(strategy, segment).rename(columns={"weight": "w_p", "return": "r_p"})
    b = segment_returns(benchmark, segment).rename(columns={"weight": "w_b", "return": "r_b"})
    both = p.merge(b, on="segment", how="outer")
    both[["w_p", "w_b"]] = both[["w_p", "w_b"]].fillna(0.0)
    return brinson_fachler(both)
