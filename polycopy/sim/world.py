"""A seeded, deterministic agent-based world of Polymarket markets and traders.

``generate_world(SimConfig(...))`` builds everything the simulated venue serves:
markets with hidden true probabilities and price paths that drift toward the truth,
wallets drawn from the trader archetypes, every trade (fill) they make, and a small
set of malformed records that the venue serves alongside the real ones (as real
APIs sometimes do). All times are unix seconds (UTC); prices are USD per share in
[0, 1]; sizes are shares; notionals are USD.

Generation is vectorised with numpy so a 1M-trade world builds in seconds.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from polycopy.sim.activity import ActivityRates, derive_activity
from polycopy.sim.archetypes import CATEGORIES, DEFAULT_MIX, Archetype, Behaviour, draw_archetypes

DAY = 86_400
HOUR = 3_600
TICK = 0.01
# Markets created from this instant on are Protocol-V2 markets (positionIds, version "v2").
V2_CUTOVER_TS = int(datetime(2026, 11, 2, tzinfo=timezone.utc).timestamp())

BUY, SELL = 0, 1

# Corruptions applied to malformed records; every one must fail validation.
MALFORMED_KINDS: tuple[str, ...] = (
    "missing_wallet",
    "price_above_one",
    "negative_price",
    "price_not_number",
    "negative_size",
    "missing_tx_hash",
    "bad_side",
    "missing_timestamp",
    "empty_asset",
    "bad_wallet",
)


@dataclass(frozen=True)
class SimConfig:
    """Parameters of a simulated world. Same config, same world, byte for byte."""

    seed: int = 7
    n_markets: int = 300
    n_wallets: int = 600
    n_trades: int = 30_000
    history_end: datetime = datetime(2026, 11, 20, tzinfo=timezone.utc)
    history_days: int = 60
    live_days: float = 2.0
    archetype_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    void_rate: float = 0.03
    early_rate: float = 0.15
    malformed_rate: float = 0.002
    partial_rate: float = 0.01
    # Wallets were already trading this many days before the first served day: their
    # earlier trades exist (the ground truth knows them) but no route serves them.
    prelude_days: int = 15
    activity: ActivityRates = field(default_factory=ActivityRates)
    # Gamma's markets carry a `category` field only when asked for: real ones do not.
    serve_category_field: bool = False
    # Categories the world's markets are in (6–20 of CATEGORIES); None draws it per seed.
    n_categories: int | None = None
    # How far each archetype's parameters move from the centre table per seed (0: not at
    # all; see archetypes.draw_archetypes).
    archetype_spread: float = 1.0
    # Markets opened from this instant on are Protocol-V2 markets; None: Polymarket's own
    # cutover (V2_CUTOVER_TS). A world generated at the wall clock sets it from its end, so
    # that markets of both versions are open whenever it is generated.
    v2_cutover: datetime | None = None

    @property
    def history_end_ts(self) -> int:
        return int(self.history_end.timestamp())

    @property
    def history_start_ts(self) -> int:
        """First served instant: nothing earlier is on any route."""
        return self.history_end_ts - self.history_days * DAY

    @property
    def world_start_ts(self) -> int:
        """When trading began, ``prelude_days`` before the served history."""
        return self.history_start_ts - self.prelude_days * DAY

    @property
    def horizon_ts(self) -> int:
        """Last instant of the world: the end of the live segment."""
        return self.history_end_ts + int(self.live_days * DAY)


@dataclass
class SimWorld:
    """Everything the venue serves. ``rows`` are real trades then malformed rows.

    ``trades`` and ``activity`` are what the venue serves (from the first served day on);
    ``prelude_trades`` / ``prelude_activity`` happened before it and ``transfers`` (shares
    received by ERC-1155 transfer) are on no route at all: the ground truth alone knows them.
    """

    config: SimConfig
    markets: pd.DataFrame
    wallets: pd.DataFrame
    trades: pd.DataFrame
    malformed: pd.DataFrame
    tx_hashes: list[str]
    signal: np.ndarray  # Brownian public-information path per market (markets × SIGNAL_GRID)
    activity: pd.DataFrame = None
    prelude_trades: pd.DataFrame = None
    prelude_activity: pd.DataFrame = None
    transfers: pd.DataFrame = None
    archetypes: dict = None  # this world's Archetype per name (drawn per seed)
    behaviour: Behaviour = None
    # Price paths set through the venue's control route (tests only): market -> (times, prices
    # of outcome 0), a step function from its first time on.
    price_paths: dict = field(default_factory=dict)
    # Bumped by every change to a market's prices or life (set_price_path, set_resolution,
    # set_end), so that the caches of columns, rows and price grids refresh. Code that edits
    # ``markets`` in place once the world is served must bump it too.
    revision: int = 0
    _columns: tuple = field(default=(-1, None), init=False, repr=False, compare=False)
    _rows: tuple = field(default=(-1, None), init=False, repr=False, compare=False)

    def market_column(self, name: str) -> np.ndarray:
        """A column of ``markets`` as an array, kept until the markets change (``revision``):
        the venue reads a market's times and prices at every request, and a DataFrame
        look-up costs more than the request's own work."""
        rev, cols = self._columns
        if rev != self.revision:
            cols = {}
            self._columns = (self.revision, cols)
        if name not in cols:
            cols[name] = self.markets[name].to_numpy()
        return cols[name]

    def market_row(self, i: int) -> SimpleNamespace:
        """Market ``i`` (positional) as an object of plain Python values, kept until the
        markets change (``revision``); ``markets.iloc[i]`` costs a tenth of a millisecond."""
        rev, rows = self._rows
        if rev != self.revision:
            rows = [SimpleNamespace(**r) for r in self.markets.to_dict("records")]
            self._rows = (self.revision, rows)
        return rows[i]

    # ---- price model -------------------------------------------------------------
    def price_yes(self, market_idx, ts) -> np.ndarray:
        """Mid price of the market's first outcome (index 0) at ``ts`` (vectorised)."""
        mi = np.atleast_1d(np.asarray(market_idx))
        t = np.atleast_1d(np.asarray(ts, dtype=np.int64))
        p = _price_yes({c: self.market_column(c) for c in ("open_ts", "closed_ts", "mu", "z", "info_rate")},
                       self.signal, mi, t)
        for k, (path_ts, path_p) in self.price_paths.items():
            hit = (mi == k) & (t >= path_ts[0])
            if hit.any():
                p = np.array(p, dtype=float)
                p[hit] = path_p[np.searchsorted(path_ts, t[hit], side="right") - 1]
        return p

    def set_price_path(self, market_idx: int, points: list[tuple[int, float]]) -> None:
        """From the first point's time on, outcome 0 of the market is priced at the latest
        point at or before each time (outcome 1 at one minus it)."""
        pts = sorted((int(t), float(p)) for t, p in points)
        self.price_paths[int(market_idx)] = (np.array([t for t, _ in pts], dtype=np.int64),
                                             np.array([p for _, p in pts], dtype=float))
        self.revision += 1

    def set_resolution(self, market_idx: int, at_ts: int, winner: int | None, resolved_after_s: int = 0,
                       end_ts: int | None = None) -> None:
        """The market closes at ``at_ts`` and resolves ``resolved_after_s`` later: outcome
        ``winner`` (0 or 1) wins, or None for a void (50-50). Early when it closes more than an
        hour before its end date."""
        m = self.markets
        if end_ts is not None:
            m.loc[m.index[market_idx], "end_ts"] = int(end_ts)
        i = m.index[market_idx]
        m.loc[i, "closed_ts"] = int(at_ts)
        m.loc[i, "resolved_ts"] = int(at_ts) + int(resolved_after_s)
        m.loc[i, "void"] = winner is None
        m.loc[i, "winner"] = -1 if winner is None else int(winner)
        m.loc[i, "early"] = int(at_ts) < int(m.loc[i, "end_ts"]) - 3_600
        self.revision += 1

    def set_end(self, market_idx: int, end_ts: int) -> None:
        """Move the market's end date (its scheduled close) to ``end_ts``."""
        self.markets.loc[self.markets.index[market_idx], "end_ts"] = int(end_ts)
        self.revision += 1

    def token_price(self, market_idx: int, outcome_index: int, ts: int) -> float:
        p = float(self.price_yes(np.array([market_idx]), np.array([ts]))[0])
        return p if outcome_index == 0 else 1.0 - p


# Information arrives on a grid of this many points over each market's life.
SIGNAL_GRID = 64


def _price_yes(markets, signal: np.ndarray, mi: np.ndarray, ts: np.ndarray) -> np.ndarray:
    """Calibrated price: P(outcome 0 wins | public information at ``ts``).

    The outcome is ``mu + Z > 0`` with ``Z ~ N(0, 1)``. By time fraction τ the public
    has seen ``S = λ·Z + W(λ)`` with ``λ = c·τ / (1 − τ)`` and ``W`` a Brownian motion,
    so ``Z | S ~ N(S / (1 + λ), 1 / (1 + λ))``. The price is the posterior chance of a
    win: it starts at the prior, wanders as news arrives and converges to the truth.
    """
    open_ts = np.asarray(markets["open_ts"])[mi]
    closed_ts = np.asarray(markets["closed_ts"])[mi]
    mu = np.asarray(markets["mu"])[mi]
    z = np.asarray(markets["z"])[mi]
    c = np.asarray(markets["info_rate"])[mi]
    span = np.maximum(closed_ts - open_ts, 1)
    tau = np.clip((ts - open_ts) / span, 0.0, 0.999)
    pos = tau * (SIGNAL_GRID - 1) / 0.999
    j = np.minimum(pos.astype(np.int64), SIGNAL_GRID - 2)
    frac = pos - j
    w = signal[mi, j] * (1 - frac) + signal[mi, j + 1] * frac
    lam = c * tau / (1.0 - tau)
    s = lam * z + w
    p = ndtr((mu + s / (1.0 + lam)) * np.sqrt(1.0 + lam))
    return np.clip(p, 0.02, 0.98)


def _hex_strings(rng: np.random.Generator, n: int, nbytes: int) -> list[str]:
    raw = rng.integers(0, 256, size=n * nbytes, dtype=np.uint8).tobytes()
    h = binascii.hexlify(raw).decode()
    w = 2 * nbytes
    return ["0x" + h[i * w:(i + 1) * w] for i in range(n)]


def _round_tick(p: np.ndarray) -> np.ndarray:
    return np.clip(np.round(p / TICK) * TICK, 0.01, 0.99).round(2)


_ADJ = ("Quiet", "Bold", "Swift", "Lucky", "Sharp", "Tired", "Cruel", "Brave", "Calm", "Wild",
        "Silent", "Golden", "Frozen", "Hidden", "Rapid", "Gentle")
_NOUN = ("Veteran", "Eponym", "Falcon", "Oracle", "Badger", "Comet", "Harbor", "Maple",
         "Otter", "Summit", "Cipher", "Ledger", "Meadow", "Pioneer", "Quartz", "Raven")


def generate_world(config: SimConfig) -> SimWorld:
    """Build the world for ``config`` (deterministic in ``config.seed``)."""
    archetypes, behaviour = draw_archetypes(np.random.default_rng([config.seed, 3]), config.archetype_spread)
    rng = np.random.default_rng(config.seed)
    markets, signal = _generate_markets(config, rng)
    wallets = _generate_wallets(config, rng, archetypes, behaviour, markets)
    trades, n_tx = _generate_trades(config, rng, markets, signal, wallets, archetypes, behaviour)
    trades, activity, transfers, n_tx = derive_activity(config.activity, rng, markets, wallets, trades, n_tx,
                                                        config.horizon_ts)
    tx_hashes = _hex_strings(rng, n_tx, 32)
    served = trades["ts"].to_numpy() >= config.history_start_ts
    prelude_trades = trades[~served].reset_index(drop=True)
    trades = trades[served].reset_index(drop=True)
    trades["trade_idx"] = np.arange(len(trades))
    served_activity = activity["ts"].to_numpy() >= config.history_start_ts
    malformed = _generate_malformed(config, rng, trades)
    return SimWorld(config, markets, wallets, trades, malformed, tx_hashes, signal,
                    activity=activity[served_activity].reset_index(drop=True),
                    prelude_trades=prelude_trades, prelude_activity=activity[~served_activity].reset_index(drop=True),
                    transfers=transfers, archetypes=archetypes, behaviour=behaviour)


# ---- markets -----------------------------------------------------------------------
def _generate_markets(cfg: SimConfig, rng: np.random.Generator) -> pd.DataFrame:
    m = cfg.n_markets
    t0, t1 = cfg.world_start_ts, cfg.horizon_ts
    open_ts = rng.integers(t0 - 20 * DAY, t1 - DAY, size=m)
    duration = np.clip(np.exp(rng.normal(np.log(15 * DAY), 0.8, size=m)), 12 * HOUR, 120 * DAY)
    end_ts = (open_ts + duration).astype(np.int64)
    early = rng.random(m) < cfg.early_rate
    closed_ts = np.where(early, open_ts + (rng.uniform(0.3, 0.9, m) * duration).astype(np.int64), end_ts)
    # UMA liveness: a closed market is "proposed" for a while before it is "resolved".
    resolved_ts = closed_ts + rng.integers(HOUR, 36 * HOUR, size=m)
    void = rng.random(m) < cfg.void_rate
    q = np.clip(rng.beta(2.0, 2.0, size=m), 0.05, 0.95)
    mu = ndtri(q)
    z = rng.normal(size=m)
    yes_wins = mu + z > 0
    info_rate = rng.uniform(0.5, 3.0, m)
    tau_grid = np.linspace(0.0, 0.999, SIGNAL_GRID)
    lam_grid = info_rate[:, None] * tau_grid / (1.0 - tau_grid)
    steps = rng.normal(size=(m, SIGNAL_GRID - 1)) * np.sqrt(np.diff(lam_grid, axis=1))
    signal = np.concatenate([np.zeros((m, 1)), np.cumsum(steps, axis=1)], axis=1)
    winner = np.where(void, -1, np.where(yes_wins, 0, 1))
    # The world's categories: K of the taxonomy's, with uneven shares of the markets.
    crng = np.random.default_rng([cfg.seed, 5])
    k_cats = cfg.n_categories or int(crng.integers(6, len(CATEGORIES) + 1))
    if not 1 <= k_cats <= len(CATEGORIES):
        raise ValueError(f"n_categories must be within 1..{len(CATEGORIES)}, got {k_cats}")
    world_cats = np.sort(crng.choice(len(CATEGORIES), size=k_cats, replace=False))
    cat_weights = crng.dirichlet(np.full(k_cats, 2.0))
    category = world_cats[rng.choice(k_cats, size=m, p=cat_weights)]
    sports_style = rng.random(m) < 0.2
    token_ids = [str(int.from_bytes(rng.bytes(32), "big")) for _ in range(2 * m)]
    condition_ids = _hex_strings(rng, m, 32)
    neg_risk = rng.random(m) < 0.1
    liquidity = np.exp(rng.normal(np.log(30_000), 1.0, size=m))
    df = pd.DataFrame(
        {
            "market_idx": np.arange(m),
            "market_id": (500_000 + np.arange(m)).astype(str),
            "condition_id": condition_ids,
            "category": [CATEGORIES[c] for c in category],
            "category_idx": category,
            "open_ts": open_ts.astype(np.int64),
            "end_ts": end_ts,
            "closed_ts": closed_ts.astype(np.int64),
            "resolved_ts": resolved_ts.astype(np.int64),
            "early": early,
            "void": void,
            "winner": winner,
            "q": q,
            "mu": mu,
            "z": z,
            "info_rate": info_rate,
            "token0": token_ids[0::2],
            "token1": token_ids[1::2],
            "outcome0": np.where(sports_style, "Over", "Yes"),
            "outcome1": np.where(sports_style, "Under", "No"),
            "neg_risk": neg_risk,
            "liquidity": liquidity,
            "version": np.where(open_ts >= (V2_CUTOVER_TS if cfg.v2_cutover is None
                                            else int(cfg.v2_cutover.timestamp())), "v2", "v1"),
        }
    )
    _protocol_v2_ids(df, np.random.default_rng([cfg.seed, 9]))
    df["question"] = [f"Simulated {c} market #{i}?" for i, c in zip(df.market_idx, df.category)]
    df["slug"] = [f"sim-{c}-market-{i}" for i, c in zip(df.market_idx, df.category)]
    df["event_slug"] = [f"sim-{c}-event-{i // 3}" for i, c in zip(df.market_idx, df.category)]
    df["market_tags"], df["event_tags"] = _draw_tags(np.random.default_rng([cfg.seed, 7]), category)
    return df, signal


_V2_RESERVED_BITS = ((1 << 64) - 1) << 32  # of the 31-byte structural id: bits 40..103 of a position id


def _protocol_v2_ids(df: pd.DataFrame, rng: np.random.Generator) -> None:
    """Give Protocol-V2 markets their on-chain identifiers: a 31-byte structural market id
    (its first byte the module: 1 binary, 2 neg-risk; a reserved band of zero bits), the
    condition id that id padded with 00, and position ids ``id << 8 | outcome``."""
    for i in np.flatnonzero(df["version"].to_numpy() == "v2"):
        module = 2 if bool(df.at[i, "neg_risk"]) else 1
        body = int.from_bytes(rng.bytes(30), "big") & ~_V2_RESERVED_BITS
        structural = (module << 240) | body
        df.at[i, "condition_id"] = f"0x{structural:062x}00"
        df.at[i, "token0"] = str(structural << 8)
        df.at[i, "token1"] = str((structural << 8) | 1)


# Tags as Gamma serves them: each category has a broad tag and narrower ones; some tags
# say nothing about the subject. The taxonomy seed maps the real slugs to categories.
TAG_VOCABULARY: dict[str, tuple[str, ...]] = {
    "politics": ("politics", "us-politics", "trump", "congress"),
    "crypto": ("crypto", "bitcoin", "ethereum", "solana"),
    "sports": ("sports", "mlb", "tennis", "mma"),
    "pop-culture": ("pop-culture", "movies", "music", "awards"),
    "economics": ("economy", "fed", "inflation", "gdp"),
    "science": ("science", "space", "nasa"),
    "tech": ("tech", "big-tech", "technology"),
    "world": ("geopolitics", "middle-east", "ukraine"),
    "elections": ("elections", "us-elections", "midterms", "global-elections"),
    "soccer": ("soccer", "epl", "champions-league"),
    "basketball": ("nba", "nba-playoffs", "cbb"),
    "american-football": ("nfl", "cfb"),
    "esports": ("esports", "league-of-legends", "counter-strike"),
    "mentions": ("mentions", "speech-mentions"),
    "finance": ("finance", "stocks", "ipos", "commodities"),
    "earnings": ("earnings", "earnings-calls"),
    "climate": ("climate", "global-temperature"),
    "weather": ("weather", "hurricanes"),
    "health": ("health", "pandemics", "fda"),
    "ai": ("ai", "openai", "llms"),
}
# The broader tag Gamma also puts on a narrower category's events (it maps to the broad
# category with a weaker priority, so the narrow tag decides).
PARENT_TAGS: dict[str, str] = {
    "elections": "politics", "soccer": "sports", "basketball": "sports", "american-football": "sports",
    "esports": "sports", "mentions": "pop-culture", "earnings": "finance", "climate": "science",
    "weather": "science", "health": "science", "ai": "tech",
}
UNINFORMATIVE_TAGS: tuple[str, ...] = ("featured", "new", "trending", "recurring", "daily", "hide-from-new")


def _draw_tags(rng: np.random.Generator, category: np.ndarray) -> tuple[list, list]:
    """(tags on the market, tags on its event), as slug lists. Most events carry their
    category's broad tag and a narrower one; markets carry their own tags only sometimes
    (as on Gamma, where many have tags only through their event); about one market in
    twenty has nothing but uninformative tags, so its category is unknown."""
    market_tags, event_tags = [], []
    for c in category:
        vocab = TAG_VOCABULARY[CATEGORIES[c]]
        noise = [UNINFORMATIVE_TAGS[j] for j in rng.choice(len(UNINFORMATIVE_TAGS), size=2, replace=False)]
        if rng.random() < 0.05:
            market_tags.append(noise[:1])
            event_tags.append(noise[1:])
            continue
        narrow = vocab[int(rng.integers(1, len(vocab)))]
        parent = PARENT_TAGS.get(CATEGORIES[c])
        ev = ([parent] if parent else []) + [vocab[0], narrow] + (noise[:1] if rng.random() < 0.3 else [])
        own = ([narrow] if rng.random() < 0.7 else [vocab[0]]) + (noise[1:] if rng.random() < 0.3 else [])
        market_tags.append(own if rng.random() < 0.6 else [])
        event_tags.append(ev)
    return market_tags, event_tags


# ---- wallets -----------------------------------------------------------------------
def _generate_wallets(cfg: SimConfig, rng: np.random.Generator, archetypes: dict[str, Archetype],
                      behaviour: Behaviour, markets: pd.DataFrame) -> pd.DataFrame:
    n = cfg.n_wallets
    names = list(cfg.archetype_mix)
    shares = np.array([cfg.archetype_mix[a] for a in names], dtype=float)
    shares = shares / shares.sum()
    counts = np.floor(shares * n).astype(int)
    counts[names.index("noise") if "noise" in names else 0] += n - counts.sum()
    labels = np.repeat(np.array(names, dtype=object), counts)
    rng.shuffle(labels)
    e0 = np.zeros(n)
    e_end = np.zeros(n)
    median_usd = np.zeros(n)
    episodes = np.zeros(n, dtype=np.int64)
    cats = np.full((n, 3), -1, dtype=np.int64)
    world_cats = np.unique(markets["category_idx"].to_numpy())
    for name in names:
        a = archetypes[name]
        idx = np.flatnonzero(labels == name)
        k = len(idx)
        if k == 0:
            continue
        e0[idx] = rng.uniform(*a.edge, size=k)
        e_end[idx] = rng.uniform(*a.edge_end, size=k) if a.edge_end else e0[idx]
        lo, hi = a.notional_usd
        median_usd[idx] = np.exp(rng.uniform(np.log(lo), np.log(hi), size=k))
        elo, ehi = a.episodes
        episodes[idx] = np.floor(np.exp(rng.uniform(np.log(elo), np.log(ehi + 1), size=k))).astype(np.int64)
        if a.n_categories:
            lo_c, hi_c = behaviour.specialist_categories
            for j in range(k):
                nc = min(int(rng.integers(lo_c, hi_c + 1)), len(world_cats))
                cats[idx[j], :nc] = rng.choice(world_cats, size=nc, replace=False)
    addresses = _hex_strings(rng, n, 20)
    adj = rng.integers(0, len(_ADJ), n)
    noun = rng.integers(0, len(_NOUN), n)
    has_name = rng.random(n) < 0.4
    return pd.DataFrame(
        {
            "wallet_idx": np.arange(n),
            "address": addresses,
            "archetype": labels.astype(str),
            "style": [archetypes[a].style for a in labels],
            "skilled": [archetypes[a].skilled for a in labels],
            "edge_start": e0,
            "edge_end": e_end,
            "median_usd": median_usd,
            "episodes": episodes,
            "cat_a": cats[:, 0],
            "cat_b": cats[:, 1],
            "cat_c": cats[:, 2],
            "wash_group": np.full(n, -1, dtype=np.int64),  # set by the trade generator
            "pseudonym": [f"{_ADJ[a]}-{_NOUN[b]}" for a, b in zip(adj, noun)],
            "name": [f"trader{i}" if h else "" for i, h in enumerate(has_name)],
        }
    )


# ---- trades ------------------------------------------------------------------------
def _trades_per_episode(style: str, exit_prob: float) -> float:
    if style == "market_maker":
        return 2.0  # a round trip
    if style == "wash":
        return 1.1  # its fill in each crossing it is part of, plus the cycles' entries and exits
    return 1.0 + exit_prob + 0.1


def _trade_frame(ts, wallet_idx, market_idx, outcome_index, side, size, price, tx_idx) -> pd.DataFrame:
    n = len(ts)
    return pd.DataFrame({
        "ts": np.asarray(ts, dtype=np.int64), "wallet_idx": np.asarray(wallet_idx, dtype=np.int64),
        "market_idx": np.asarray(market_idx, dtype=np.int64), "outcome_index": np.asarray(outcome_index, dtype=np.int64),
        "side": np.broadcast_to(np.asarray(side, dtype=np.int8), (n,)).copy(),
        "size": np.asarray(size, dtype=float), "price": np.asarray(price, dtype=float),
        "tx_idx": np.asarray(tx_idx, dtype=np.int64)})


def _generate_trades(cfg: SimConfig, rng, markets: pd.DataFrame, signal: np.ndarray, wallets: pd.DataFrame,
                     archetypes: dict[str, Archetype], behaviour: Behaviour):
    t0, t1 = cfg.world_start_ts, cfg.horizon_ts
    arch = wallets["archetype"].to_numpy()
    styles = wallets["style"].to_numpy()
    tpe = np.array([_trades_per_episode(archetypes[a].style, archetypes[a].exit_prob) for a in arch])
    episodes = wallets["episodes"].to_numpy().astype(float)
    scalable = ~np.isin(styles, ("insider",))
    fixed = (episodes * tpe)[~scalable].sum()
    # n_trades counts served trades: the prelude adds its share on top.
    target = cfg.n_trades * (t1 - t0) / max(t1 - cfg.history_start_ts, 1)
    factor = max(target - fixed, 1.0) / max((episodes * tpe)[scalable].sum(), 1.0)
    episodes = np.where(scalable, np.maximum(1, np.round(episodes * factor)), episodes).astype(np.int64)
    wash_wallet = styles == "wash"
    wash, n_wash_tx = _wash_crossings(cfg, rng, markets, signal, wallets, np.where(wash_wallet, episodes, 0),
                                      behaviour)
    episodes = np.where(wash_wallet, 0, episodes)

    ep_w = np.repeat(np.arange(len(wallets)), episodes)
    n_ep = len(ep_w)
    # Position of each episode within its wallet's sequence, in [0, 1).
    starts = np.repeat(np.cumsum(episodes) - episodes, episodes)
    ep_rank = (np.arange(n_ep) - starts) / np.repeat(np.maximum(episodes, 1), episodes)
    ep_style = styles[ep_w]
    shift_late = (ep_style == "shift") & (ep_rank >= 0.5)

    # Time window each episode must fall in.
    mid = (t0 + t1) // 2
    lo = np.full(n_ep, t0, dtype=np.int64)
    hi = np.full(n_ep, t1, dtype=np.int64)
    is_shift = ep_style == "shift"
    hi[is_shift & ~shift_late] = mid
    lo[shift_late] = mid

    # Category per episode: specialists draw from their own categories; late shift
    # episodes move to a category of the world the wallet never traded before.
    mcat = markets["category_idx"].to_numpy()
    world_cats = np.unique(mcat)
    own = wallets[["cat_a", "cat_b", "cat_c"]].to_numpy()[ep_w]
    n_own = (own >= 0).sum(axis=1)
    pick = np.minimum((rng.random(n_ep) * np.maximum(n_own, 1)).astype(np.int64), 2)
    ep_cat = own[np.arange(n_ep), pick]
    any_cat = n_own == 0
    cat_freq = np.bincount(mcat, minlength=len(CATEGORIES)).astype(float)
    ep_cat[any_cat] = rng.choice(len(CATEGORIES), size=int(any_cat.sum()), p=cat_freq / cat_freq.sum())
    for i in np.flatnonzero(shift_late):
        fresh = np.setdiff1d(world_cats, own[i])
        ep_cat[i] = rng.choice(fresh) if len(fresh) else ep_cat[i]

    open_ts = markets["open_ts"].to_numpy()
    closed_ts = markets["closed_ts"].to_numpy()
    void = markets["void"].to_numpy()
    by_cat = [np.flatnonzero(mcat == c) for c in range(len(CATEGORIES))]
    is_insider = ep_style == "insider"
    is_mm = ep_style == "market_maker"
    informed = np.isin(ep_style, ("directional", "shift")) & (wallets["edge_start"].to_numpy()[ep_w] > 0)
    # A market maker quotes a book of markets (longer-lived ones more often) and keeps
    # coming back to them.
    book_n = np.zeros(len(wallets), dtype=np.int64)
    mm_wallets = np.flatnonzero(styles == "market_maker")
    lo_b, hi_b = behaviour.mm_markets
    book_n[mm_wallets] = rng.integers(lo_b, hi_b + 1, size=len(mm_wallets))
    life = np.maximum(closed_ts - open_ts, 1).astype(float)
    book = rng.choice(len(markets), size=(len(wallets), max(1, int(book_n.max()))), p=life / life.sum())
    lo_h, hi_h = behaviour.insider_hours_before_close

    ep_m = np.full(n_ep, -1, dtype=np.int64)
    ep_t = np.zeros(n_ep, dtype=np.int64)
    pending = np.arange(n_ep)
    for _ in range(30):
        if len(pending) == 0:
            break
        cats = ep_cat[pending]
        choice = np.empty(len(pending), dtype=np.int64)
        for c in np.unique(cats):
            sel = cats == c
            pool = by_cat[c] if len(by_cat[c]) else np.arange(len(markets))
            choice[sel] = pool[rng.integers(0, len(pool), size=int(sel.sum()))]
        from_book = is_mm[pending] & (rng.random(len(pending)) < 0.85)
        w_b = ep_w[pending[from_book]]
        choice[from_book] = book[w_b, (rng.random(len(w_b)) * book_n[w_b]).astype(np.int64)]
        ins = is_insider[pending]
        a = np.maximum(open_ts[choice], lo[pending])
        b = np.minimum(closed_ts[choice], hi[pending])
        # Skill is information the market has not priced yet: skilled wallets enter
        # early in a market's life (u² skews toward the start), others at any time.
        u = rng.random(len(pending))
        u = np.where(informed[pending], u ** 2, u)
        t = a + (u * np.maximum(b - a, 0)).astype(np.int64)
        # Insiders bet shortly before a (non-void) market they know resolves.
        t_ins = closed_ts[choice] - (rng.uniform(lo_h, hi_h, size=len(pending)) * HOUR).astype(np.int64)
        t = np.where(ins, np.maximum(t_ins, open_ts[choice]), t)
        ok = ((b - a > 600) & (t >= lo[pending]) & (t <= hi[pending])
              & (~ins | ((~void[choice]) & (closed_ts[choice] <= t1) & (t < closed_ts[choice]))))
        ep_m[pending[ok]] = choice[ok]
        ep_t[pending[ok]] = t[ok]
        pending = pending[~ok]
    keep = ep_m >= 0
    ep_w, ep_m, ep_t, ep_style, ep_rank, shift_late = (
        ep_w[keep], ep_m[keep], ep_t[keep], ep_style[keep], ep_rank[keep], shift_late[keep])
    n_ep = len(ep_w)
    is_mm = ep_style == "market_maker"

    # Side choice.
    p_yes = _price_yes(markets, signal, ep_m, ep_t)
    winner = markets["winner"].to_numpy()[ep_m]
    frac_t = (ep_t - t0) / max(t1 - t0, 1)
    e_start = wallets["edge_start"].to_numpy()[ep_w]
    e_stop = wallets["edge_end"].to_numpy()[ep_w]
    edge = e_start + (e_stop - e_start) * frac_t
    edge = np.where(shift_late, 0.0, edge)
    p_w = np.where(winner == 0, p_yes, 1.0 - p_yes)
    pick_winner = rng.random(n_ep) < np.clip(p_w + edge * (1.0 - p_w), 0.0, 1.0)
    k_dir = np.where(winner < 0, (rng.random(n_ep) >= p_yes).astype(int),
                     np.where(pick_winner, winner, 1 - winner))
    k_fav = np.where(p_yes >= 0.5, 0, 1)
    k_rand = rng.integers(0, 2, size=n_ep)
    k = np.select(
        [np.isin(ep_style, ("directional", "shift")), ep_style == "favorite", ep_style == "insider"],
        [k_dir, k_fav, np.maximum(winner, 0)],
        default=k_rand,
    ).astype(np.int64)
    p_k = np.where(k == 0, p_yes, 1.0 - p_yes)

    # A market maker is filled on its quote, and adverse selection costs it
    # mm_adverse_ticks a fill on average: it loses the spread (dithered rounding keeps the
    # mean loss exact at any tick).
    adverse = behaviour.mm_adverse_ticks * TICK
    dither = rng.uniform(-TICK / 2, TICK / 2, size=(2, n_ep))
    entry_px = np.where(is_mm, _round_tick(p_k + adverse + dither[0]), _round_tick(p_k + TICK))
    sigma = np.array([archetypes[a].notional_sigma for a in arch])[ep_w]
    notional = wallets["median_usd"].to_numpy()[ep_w] * np.exp(rng.normal(0.0, sigma))
    notional = np.where(shift_late, notional * 3.0, notional)
    shares = np.maximum(5.0, np.round(notional / entry_px, 2))

    # Exits.
    exit_prob = np.array([archetypes[a].exit_prob for a in arch])[ep_w]
    exits = rng.random(n_ep) < exit_prob
    end_t = np.minimum(closed_ts[ep_m], t1)
    t_exit = ep_t + (rng.uniform(0.05, 1.0, n_ep) * np.maximum(end_t - ep_t, 0)).astype(np.int64)
    # A market maker holds a round trip's inventory for hours or days, and flattens before close.
    hold = np.exp(rng.normal(np.log(behaviour.mm_hold_hours * HOUR), 1.0, n_ep)).astype(np.int64)
    t_exit = np.where(is_mm, np.maximum(ep_t + 1, np.minimum(ep_t + hold, closed_ts[ep_m] - 60)), t_exit)
    exits &= (t_exit < closed_ts[ep_m]) & (t_exit <= t1)
    p_exit = np.where(k == 0, _price_yes(markets, signal, ep_m, t_exit), 1.0 - _price_yes(markets, signal, ep_m, t_exit))
    # Some round trips close by buying the other outcome (a complete set, worth 1 at resolution).
    complement = is_mm & (rng.random(n_ep) < behaviour.mm_complement_share)
    exit_px = np.select(
        [complement, is_mm],
        [_round_tick(1.0 - p_exit + adverse + dither[1]), _round_tick(p_exit - adverse + dither[1])],
        default=_round_tick(p_exit - TICK),
    )
    exit_side = np.where(complement, BUY, SELL)
    exit_k = np.where(complement, 1 - k, k)
    half = (~is_mm) & (rng.random(n_ep) < 0.3)
    exit_shares = np.where(half, np.round(shares * 0.5, 2), shares)

    # Multi-fill entries: one transaction, two fills at adjacent price levels.
    split = (~is_mm) & (ep_style != "insider") & (rng.random(n_ep) < 0.1)
    s1 = np.round(shares * rng.uniform(0.3, 0.7, n_ep), 2)
    s2 = np.round(shares - s1, 2)
    s1 = np.where(s1 == s2, s1 + 0.01, s1)
    px2 = np.minimum(entry_px + TICK, 0.99).round(2)

    tx_entry = np.arange(n_ep)
    tx_exit = n_ep + np.arange(n_ep)
    n_tx = 2 * n_ep

    def rows(mask, ts, side, size, price, tx, outcome=k):
        return _trade_frame(ts[mask], ep_w[mask], ep_m[mask], outcome[mask], side[mask] if np.ndim(side) else side,
                            size[mask], price[mask], tx[mask])

    parts = [rows(~split, ep_t, BUY, shares, entry_px, tx_entry), rows(split, ep_t, BUY, s1, entry_px, tx_entry),
             rows(split, ep_t, BUY, s2, px2, tx_entry),
             rows(exits, t_exit, exit_side, exit_shares, exit_px, tx_exit, exit_k)]
    warmups = _insider_warmups(cfg, rng, markets, signal, wallets, ep_w[ep_style == "insider"],
                               ep_t[ep_style == "insider"], behaviour)
    for extra in (wash, warmups):
        if len(extra):
            parts.append(extra.assign(tx_idx=extra["tx_idx"] + n_tx))
            n_tx += int(extra["tx_idx"].max()) + 1
    trades = pd.concat(parts, ignore_index=True)
    trades = trades.sort_values(["ts", "tx_idx", "side"], kind="stable").reset_index(drop=True)
    trades["size"] = trades["size"].round(2)
    trades["price"] = trades["price"].round(2)
    trades["partial"] = rng.random(len(trades)) < cfg.partial_rate
    trades.insert(0, "trade_idx", np.arange(len(trades)))
    return trades, n_tx


def _wash_crossings(cfg: SimConfig, rng, markets: pd.DataFrame, signal: np.ndarray, wallets: pd.DataFrame,
                    episodes: np.ndarray, behaviour: Behaviour) -> tuple[pd.DataFrame, int]:
    """Wash traders work in rings of 2–4 wallets (a lone one crosses itself): one buys
    shares from the market, the shares go round the ring, each crossing a SELL by one
    member and a BUY of the same shares at the same price by the next (in one
    transaction, or minutes apart), and the last holder sells them back to the market.
    Each wallet's ring is written to ``wallets["wash_group"]`` (ground truth).
    Returns the fills (transaction indices from 0) and the number of transactions used."""
    members_all = np.flatnonzero(episodes > 0)
    if len(members_all) == 0:
        return _trade_frame([], [], [], [], BUY, [], [], []), 0
    members_all = members_all.copy()
    rng.shuffle(members_all)
    sizes, p = np.array([2, 3, 4]), np.asarray(behaviour.wash_ring_sizes, dtype=float)
    rings, i = [], 0
    while i < len(members_all):
        left = len(members_all) - i
        g = min(int(rng.choice(sizes, p=p / p.sum())), left)
        if left - g == 1 and g < 4:
            g += 1  # no one left alone when a ring can take them
        rings.append(members_all[i:i + g])
        i += g
    t0, t1 = cfg.world_start_ts, cfg.horizon_ts
    open_ts, closed_ts = markets["open_ts"].to_numpy(), markets["closed_ts"].to_numpy()
    life = np.clip(np.minimum(closed_ts, t1) - np.maximum(open_ts, t0), 0, None).astype(float)
    median_usd = wallets["median_usd"].to_numpy()
    group = wallets["wash_group"].to_numpy().copy()
    parts, tx = [], 0
    lo_gap, hi_gap = behaviour.wash_gap_s
    for r, ring in enumerate(rings):
        group[ring] = r
        g = len(ring)
        n_cross = max(1, int(round(episodes[ring].sum() / 2)))
        laps = int(rng.integers(1, 4))
        length = g * laps
        cycles = -(-n_cross // length)
        ring_markets = rng.choice(len(markets), size=int(rng.integers(behaviour.wash_markets[0],
                                                                         behaviour.wash_markets[1] + 1)),
                                  p=life / life.sum())
        m = ring_markets[rng.integers(0, len(ring_markets), cycles)]
        k = rng.integers(0, 2, cycles)
        a = np.maximum(open_ts[m], t0)
        b = np.minimum(closed_ts[m], t1) - (length + 2) * hi_gap - 60
        ok = b > a
        m, k, a, b = m[ok], k[ok], a[ok], b[ok]
        cycles = len(m)
        if cycles == 0:
            continue
        start = a + (rng.random(cycles) * (b - a)).astype(np.int64)
        first = rng.integers(0, g, cycles)
        gaps = rng.integers(lo_gap, hi_gap + 1, size=(cycles, length + 1))
        at = start[:, None] + np.cumsum(gaps, axis=1)  # crossing j at at[:, j]; the exit at at[:, length]
        pos = np.arange(length)[None, :]
        seller = ring[(first[:, None] + pos) % g]
        buyer = ring[(first[:, None] + pos + 1) % g]
        mm = np.repeat(m[:, None], length, axis=1)
        kk = np.repeat(k[:, None], length, axis=1)
        p_yes = _price_yes(markets, signal, mm.ravel(), at[:, :length].ravel()).reshape(cycles, length)
        px = _round_tick(np.where(kk == 0, p_yes, 1.0 - p_yes))
        p0 = _price_yes(markets, signal, m, start)
        p0 = np.where(k == 0, p0, 1.0 - p0)
        q = np.maximum(5.0, np.round(median_usd[ring[first]] * np.exp(rng.normal(0, 0.3, cycles)) / p0, 2))
        qq = np.repeat(q[:, None], length, axis=1)
        same_tx = (rng.random((cycles, length)) < behaviour.wash_same_tx) | (g == 1)
        tx_sell = tx + np.arange(cycles * length).reshape(cycles, length)
        tx += cycles * length
        tx_buy = np.where(same_tx, tx_sell, tx + np.arange(cycles * length).reshape(cycles, length))
        tx += cycles * length
        late = rng.integers(lo_gap, hi_gap + 1, size=(cycles, length))
        t_buy = np.where(same_tx, at[:, :length], at[:, :length] + np.minimum(late, gaps[:, 1:] - 1).clip(0))
        # The cycle's entry from the market and exit to it.
        p_end = _price_yes(markets, signal, m, at[:, length])
        p_end = np.where(k == 0, p_end, 1.0 - p_end)
        last_holder = ring[(first + length) % g]
        parts += [
            _trade_frame(start, ring[first], m, k, BUY, q, _round_tick(p0 + TICK), tx + np.arange(cycles)),
            _trade_frame(at[:, length], last_holder, m, k, SELL, q, _round_tick(p_end - TICK),
                         tx + cycles + np.arange(cycles)),
            _trade_frame(at[:, :length].ravel(), seller.ravel(), mm.ravel(), kk.ravel(), SELL, qq.ravel(), px.ravel(),
                         tx_sell.ravel()),
            _trade_frame(t_buy.ravel(), buyer.ravel(), mm.ravel(), kk.ravel(), BUY, qq.ravel(), px.ravel(),
                         tx_buy.ravel()),
        ]
        tx += 2 * cycles
    wallets["wash_group"] = group
    # Crossings past the target count are harmless: trades are trimmed per world only by time.
    return pd.concat(parts, ignore_index=True), tx


def _insider_warmups(cfg: SimConfig, rng, markets: pd.DataFrame, signal: np.ndarray, wallets: pd.DataFrame,
                     bet_wallet: np.ndarray, bet_ts: np.ndarray, behaviour: Behaviour) -> pd.DataFrame:
    """An insider's wallet is often not new when it bets: it made a few small trades days
    or weeks before (insider_warmup_trades, insider_warmup_days). Small BUYs (5–100 USD)
    of either outcome in markets open at the time, held to resolution."""
    if len(bet_wallet) == 0:
        return _trade_frame([], [], [], [], BUY, [], [], [])
    first = pd.Series(bet_ts).groupby(bet_wallet).min()
    lo_n, hi_n = behaviour.insider_warmup_trades
    n = rng.integers(lo_n, hi_n + 1, len(first))
    w = np.repeat(first.index.to_numpy(), n)
    lo_d, hi_d = behaviour.insider_warmup_days
    ts = np.repeat(first.to_numpy(), n) - (rng.uniform(lo_d, hi_d, len(w)) * DAY).astype(np.int64)
    ts = np.maximum(ts, cfg.world_start_ts)
    open_ts, closed_ts = markets["open_ts"].to_numpy(), markets["closed_ts"].to_numpy()
    m = np.full(len(w), -1, dtype=np.int64)
    pending = np.arange(len(w))
    for _ in range(40):
        if len(pending) == 0:
            break
        c = rng.integers(0, len(markets), len(pending))
        ok = (open_ts[c] < ts[pending]) & (closed_ts[c] > ts[pending] + HOUR)
        m[pending[ok]] = c[ok]
        pending = pending[~ok]
    keep = m >= 0
    w, ts, m = w[keep], ts[keep], m[keep]
    k = rng.integers(0, 2, len(w))
    p = _price_yes(markets, signal, m, ts)
    px = _round_tick(np.where(k == 0, p, 1.0 - p) + TICK)
    size = np.maximum(5.0, np.round(rng.uniform(5.0, 100.0, len(w)) / px, 2))
    return _trade_frame(ts, w, m, k, BUY, size, px, np.arange(len(w)))


def _generate_malformed(cfg: SimConfig, rng, trades: pd.DataFrame) -> pd.DataFrame:
    n = int(round(cfg.malformed_rate * len(trades)))
    tmpl = np.sort(rng.choice(len(trades), size=n, replace=False)) if n else np.array([], dtype=np.int64)
    kinds = [MALFORMED_KINDS[i % len(MALFORMED_KINDS)] for i in range(n)]
    return pd.DataFrame({
        "malformed_idx": np.arange(n),
        "template_trade_idx": tmpl.astype(np.int64),
        "kind": kinds,
    })
