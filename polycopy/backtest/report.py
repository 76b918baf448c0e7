"""The backtest report: one self-contained HTML page, every plot inline SVG (matplotlib),
nothing fetched from the network.

Sections: the summary table; equity curves of every strategy; the underwater plot; the
monthly-returns heat map; per-wallet and per-category contribution (Brinson-Fachler
against the benchmark strategy); the bootstrap Sharpe distribution with the DSR; VaR
exceptions over time; the CUSUM paths of the followed wallets.
"""

from __future__ import annotations

import html
import io
import math
from datetime import datetime, timezone

import matplotlib

matplotlib.use("Agg")  # no display: render to SVG only
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from polycopy.backtest.attribution import Attribution  # noqa: E402
from polycopy.backtest.performance import underwater  # noqa: E402
from polycopy.backtest.results import SUMMARY_COLUMNS, StrategyResult  # noqa: E402

# Plot ids, in page order: the browser test checks every one is present.
PLOTS = ("equity", "underwater", "monthly", "wallets", "categories", "bootstrap", "var", "cusum")


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prologue: the SVG sits inside HTML


def _fmt(v, f: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f.format(v)


def equity_plot(results: list[StrategyResult]) -> str:
    fig, ax = plt.subplots(figsize=(9, 3.6))
    for r in results:
        if len(r.nav):
            ax.plot(pd.to_datetime(list(r.nav.index)), r.nav.to_numpy() / r.nav.iloc[0], label=r.name)
    ax.axhline(1.0, color="grey", lw=0.5)
    ax.set_ylabel("NAV (start = 1)")
    ax.legend(loc="best", fontsize=8)
    ax.set_title("Equity curves")
    return _svg(fig)


def underwater_plot(results: list[StrategyResult]) -> str:
    fig, ax = plt.subplots(figsize=(9, 2.8))
    for r in results:
        if len(r.nav):
            ax.fill_between(pd.to_datetime(list(r.nav.index)), -underwater(r.nav.to_numpy()), 0, alpha=0.35,
                            label=r.name, step="post")
    ax.set_ylabel("drawdown")
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title("Under water")
    return _svg(fig)


def monthly_returns(nav: pd.Series) -> pd.Series:
    """Return of each calendar month (fraction) from end-of-day NAV, the first month from the start."""
    if len(nav) < 2:
        return pd.Series(dtype=float)
    s = pd.Series(nav.to_numpy(dtype=float), index=pd.to_datetime(list(nav.index)))
    ends = s.groupby(s.index.to_period("M")).last()
    starts = ends.shift(1)
    starts.iloc[0] = s.iloc[0]
    return ends / starts - 1.0


def monthly_plot(results: list[StrategyResult]) -> str:
    table = pd.DataFrame({r.name: monthly_returns(r.nav) for r in results}).T
    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.45 * max(len(table), 1)))
    if table.size:
        values = table.to_numpy(dtype=float)
        lim = max(float(np.nanmax(np.abs(values))), 1e-6) if np.isfinite(values).any() else 1.0
        ax.imshow(values, cmap="RdYlGn", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns], fontsize=8)
        ax.set_yticks(range(table.shape[0]), list(table.index), fontsize=8)
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:+.1%}", ha="center", va="center", fontsize=7)
    ax.set_title("Monthly returns")
    return _svg(fig)


def wallets_plot(result: StrategyResult, top: int = 15) -> str:
    w = result.wallets.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(9, 0.6 + 0.3 * max(len(w), 1)))
    ax.barh([a[:10] + "…" for a in w["wallet_address"]], w["pnl_usd"],
            color=["tab:green" if x >= 0 else "tab:red" for x in w["pnl_usd"]])
    ax.set_xlabel("P&L contributed (USD)")
    ax.set_title(f"{result.name}: contribution by source wallet (top {top} by P&L)")
    return _svg(fig)


def categories_plot(attribution: Attribution | None, name: str, benchmark: str) -> str:
    fig, ax = plt.subplots(figsize=(9, 3.2))
    if attribution is not None:
        a = attribution.by_segment
        x = np.arange(len(a))
        for k, (col, label) in enumerate((("allocation", "allocation"), ("selection", "selection"),
                                          ("interaction", "interaction"))):
            ax.bar(x + (k - 1) * 0.27, a[col], width=0.27, label=label)
        ax.set_xticks(x, a["segment"], fontsize=8, rotation=20)
        ax.axhline(0, color="grey", lw=0.5)
        ax.legend(fontsize=8)
    ax.set_title(f"{name} against {benchmark}: Brinson-Fachler by category")
    return _svg(fig)


def bootstrap_plot(result: StrategyResult) -> str:
    fig, ax = plt.subplots(figsize=(9, 3.0))
    s = np.asarray(result.bootstrap.get("sharpe", []), dtype=float)
    s = s[np.isfinite(s)]
    if len(s):
        ax.hist(s, bins=40, color="tab:blue", alpha=0.7)
        ax.axvline(result.metrics["sharpe"], color="black", lw=1, label=f"observed {result.metrics['sharpe']:.2f}")
        ax.legend(fontsize=8)
    dsr = result.metrics.get("dsr")
    ax.set_title(f"{result.name}: stationary-bootstrap Sharpe ({len(s)} paths); DSR {_fmt(dsr, '{:.2f}')} over "
                 f"{result.metrics.get('configurations_tried', '?')} configurations")
    return _svg(fig)


def var_plot(result: StrategyResult) -> str:
    fig, ax = plt.subplots(figsize=(9, 3.0))
    v = result.var_days
    if len(v):
        dates = pd.to_datetime(v["date"])
        ax.plot(dates, v["mvar"], color="tab:orange", label="mVaR forecast (99 %, 1 day)")
        ax.bar(dates, v["loss"].clip(lower=0), color="tab:grey", alpha=0.6, label="next day's loss")
        hits = v[v["exception"]]
        ax.scatter(pd.to_datetime(hits["date"]), hits["loss"], color="tab:red", zorder=3, label="exception")
        ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.legend(fontsize=8)
    m = result.metrics
    ax.set_title(f"{result.name}: VaR exceptions {m['var_exceptions']} of {m['var_days']} days; "
                 f"Kupiec p {_fmt(m['kupiec_p'], '{:.3f}')}")
    return _svg(fig)


def cusum_plot(result: StrategyResult, h: float) -> str:
    fig, ax = plt.subplots(figsize=(9, 3.0))
    for w, path in result.cusum.items():
        ys = [np.nan if y is None else y for y in path]
        if any(np.isfinite(ys)):
            ax.plot(range(1, len(ys) + 1), ys, lw=1, label=w[:10] + "…")
    ax.axhline(h, color="tab:red", lw=1, ls="--", label=f"alarm h = {h:g}")
    ax.set_xlabel("copy (closed, in order)")
    ax.set_ylabel("S_t (σ)")
    ax.legend(fontsize=7, ncol=3)
    ax.set_title(f"{result.name}: CUSUM of each followed wallet's copy returns")
    return _svg(fig)


def summary_html(results: list[StrategyResult]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in SUMMARY_COLUMNS)
    rows = "".join(
        f"<tr><th>{html.escape(r.name)}</th>"
        + "".join(f"<td>{_fmt(r.metrics.get(k), f)}</td>" for k, _, f in SUMMARY_COLUMNS) + "</tr>"
        for r in results)
    return f"<table class='summary'><tr><th>strategy</th>{head}</tr>{rows}</table>"


def render_report(results: list[StrategyResult], attribution: Attribution | None, benchmark: str,
                  title: str, description: str, cusum_h: float) -> str:
    """The whole page. ``results[0]`` is the strategy under test; ``benchmark`` names the
    strategy the attribution compares it with."""
    main = results[0]
    share = attribution.selection_share() if attribution is not None else float("nan")
    figures = {
        "equity": equity_plot(results), "underwater": underwater_plot(results), "monthly": monthly_plot(results),
        "wallets": wallets_plot(main), "categories": categories_plot(attribution, main.name, benchmark),
        "bootstrap": bootstrap_plot(main), "var": var_plot(main), "cusum": cusum_plot(main, cusum_h),
    }
    sections = "".join(f"<section class='plot' id='plot-{k}'>{figures[k]}</section>" for k in PLOTS)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; max-width: 1000px; color: #222; }}
table.summary {{ border-collapse: collapse; font-size: 13px; }}
table.summary td, table.summary th {{ border: 1px solid #ccc; padding: 3px 6px; text-align: right; }}
section.plot {{ margin: 1.5em 0; }}
section.plot svg {{ max-width: 100%; height: auto; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(description)}</p>
<p>Generated {stamp}. Selection share of the excess return over {html.escape(benchmark)}:
{_fmt(share, '{:.0%}')}.</p>
{summary_html(results)}
{sections}
</body></html>
"""
