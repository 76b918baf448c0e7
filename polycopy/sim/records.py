"""Render the simulated world as the JSON records the real Polymarket APIs serve.

Data API v1 (camelCase), Data API v2 (snake_case), Gamma markets (with JSON-encoded
string fields) and CLOB order books. Rows are addressed by index: ``0..n_trades-1``
are real trades, ``n_trades..`` are malformed rows built from a template trade.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import numpy as np

from polycopy.sim.world import TICK, SimWorld

_SIDES = ("BUY", "SELL")


class RecordRenderer:
    """Turns world rows into API records. Column lookups are cached as lists."""

    def __init__(self, world: SimWorld):
        self.world = world
        t = world.trades
        m = world.markets
        w = world.wallets
        self.n_trades = len(t)
        self._ts = t["ts"].tolist()
        self._wallet = t["wallet_idx"].tolist()
        self._market = t["market_idx"].tolist()
        self._k = t["outcome_index"].tolist()
        self._side = t["side"].tolist()
        self._size = t["size"].tolist()
        self._price = t["price"].tolist()
        self._tx = t["tx_idx"].tolist()
        self._partial = t["partial"].tolist()
        self._addr = w["address"].tolist()
        self._pseudo = w["pseudonym"].tolist()
        self._name = w["name"].tolist()
        self._cid = m["condition_id"].tolist()
        self._tokens = list(zip(m["token0"].tolist(), m["token1"].tolist()))
        self._outcomes = list(zip(m["outcome0"].tolist(), m["outcome1"].tolist()))
        self._title = m["question"].tolist()
        self._slug = m["slug"].tolist()
        self._event = m["event_slug"].tolist()
        self._mal_tmpl = world.malformed["template_trade_idx"].tolist()
        self._mal_kind = world.malformed["kind"].tolist()

    # ---- row properties (used for indexing and ordering) ---------------------------
    def row_trade(self, row: int) -> int:
        return row if row < self.n_trades else self._mal_tmpl[row - self.n_trades]

    # ---- Data API v1 -----------------------------------------------------------------
    def trade_v1(self, row: int, activity: bool = False) -> dict:
        i = self.row_trade(row)
        mi, k = self._market[i], self._k[i]
        size, price = self._size[i], self._price[i]
        rec = {
            "proxyWallet": self._addr[self._wallet[i]],
            "side": _SIDES[self._side[i]],
            "asset": self._tokens[mi][k],
            "conditionId": self._cid[mi],
            "size": size,
            "price": price,
            "timestamp": self._ts[i],
            "title": self._title[mi],
            "slug": self._slug[mi],
            "icon": "",
            "eventSlug": self._event[mi],
            "outcome": self._outcomes[mi][k],
            "outcomeIndex": k,
            "name": self._name[self._wallet[i]],
            "pseudonym": self._pseudo[self._wallet[i]],
            "bio": "",
            "profileImage": "",
            "profileImageOptimized": "",
            "transactionHash": self.world.tx_hashes[self._tx[i]],
        }
        if activity:
            rec["type"] = "TRADE"
            rec["usdcSize"] = round(size * price, 6)
        if self._partial[i]:
            # Real records sometimes lack descriptive fields; they are still valid trades.
            for key in ("title", "slug", "icon", "eventSlug", "outcome", "name", "pseudonym", "bio"):
                rec.pop(key, None)
        if row >= self.n_trades:
            _corrupt(rec, self._mal_kind[row - self.n_trades])
        return rec

    def trades_frame(self, rows: np.ndarray) -> "pd.DataFrame":
        """Trades ``rows`` (indices of real trades, below ``n_trades``) as the columns
        ``parse_trade`` gives for their v1 records (``TRADE_COLUMNS``), built column by
        column: the bulk loader's path for histories of tens of millions of fills."""
        import pandas as pd

        from polycopy.polymarket.schema import trade_key

        t, m, w = self.world.trades, self.world.markets, self.world.wallets
        rows = np.asarray(rows, dtype=np.int64)
        mi = t["market_idx"].to_numpy()[rows]
        k = t["outcome_index"].to_numpy()[rows]
        wi = t["wallet_idx"].to_numpy()[rows]
        partial = t["partial"].to_numpy()[rows]
        size = t["size"].to_numpy()[rows].astype(float)
        price = t["price"].to_numpy()[rows].astype(float)
        wallet = w["address"].to_numpy(dtype=object)[wi]
        wallet = np.array([a.lower() for a in wallet], dtype=object)
        side = np.array(_SIDES, dtype=object)[t["side"].to_numpy()[rows]]
        token = np.where(k == 0, m["token0"].to_numpy(dtype=object)[mi], m["token1"].to_numpy(dtype=object)[mi])
        tx = np.array(self.world.tx_hashes, dtype=object)[t["tx_idx"].to_numpy()[rows]]
        tx = np.array([h.lower() for h in tx], dtype=object)

        def descriptive(values: np.ndarray) -> np.ndarray:
            # Partial records lack their descriptive fields: absent, never invented.
            return np.where(partial, None, values)

        return pd.DataFrame({
            "trade_key": [trade_key(*r) for r in zip(tx, wallet, token, side, size, price)],
            "transaction_hash": tx,
            "proxy_wallet": wallet,
            "side": side,
            "token_id": token,
            "condition_id": np.array([c.lower() for c in m["condition_id"].to_numpy(dtype=object)],
                                     dtype=object)[mi],
            "size": size,
            "price": price,
            "usdc_size": size * price,
            "timestamp": pd.array(t["ts"].to_numpy()[rows], dtype="Int64"),
            "outcome": descriptive(np.where(k == 0, m["outcome0"].to_numpy(dtype=object)[mi],
                                            m["outcome1"].to_numpy(dtype=object)[mi])),
            "outcome_index": pd.array(k, dtype="Int64"),
            "title": descriptive(m["question"].to_numpy(dtype=object)[mi]),
            "slug": descriptive(m["slug"].to_numpy(dtype=object)[mi]),
            "event_slug": descriptive(m["event_slug"].to_numpy(dtype=object)[mi]),
            "name": descriptive(w["name"].to_numpy(dtype=object)[wi]),
            "pseudonym": descriptive(w["pseudonym"].to_numpy(dtype=object)[wi]),
            "source_shape": "v1",
        })

    # ---- Data API v2 -----------------------------------------------------------------
    def trade_v2(self, row: int) -> dict:
        """The same fill in the /v2 snake_case shape (fields absent in v1 stay absent)."""
        v1 = self.trade_v1(row)
        out = {v2: v1[v1_key] for v2, v1_key in _V2_FROM_V1 if v1_key in v1}
        out["is_combo"] = False
        if isinstance(v1.get("size"), (int, float)) and isinstance(v1.get("price"), (int, float)):
            out["usdc_size"] = round(v1["size"] * v1["price"], 6)
        return out

    # ---- Gamma -----------------------------------------------------------------------
    def market_gamma(self, mi: int, now: int, include_tag: bool = False) -> dict:
        """Gamma's market record at ``now``; with ``include_tag`` its own tags, as
        ``include_tag=true`` serves them. No ``category`` field unless the world's config
        asks for one: real markets have none."""
        m = self.world.market_row(mi)
        closed = now >= m.closed_ts
        resolved = now >= m.resolved_ts
        if resolved:
            if m.void:
                prices = ["0.5", "0.5"]
            else:
                prices = ["1", "0"] if m.winner == 0 else ["0", "1"]
            uma = "resolved"
        elif closed:
            p = float(self.world.price_yes(np.array([mi]), np.array([int(m.closed_ts)]))[0])
            prices = [f"{p:.4f}", f"{1 - p:.4f}"]
            uma = "proposed"
        else:
            p = float(self.world.price_yes(np.array([mi]), np.array([now]))[0])
            prices = [f"{p:.4f}", f"{1 - p:.4f}"]
            uma = ""
        tokens = [str(m.token0), str(m.token1)]
        rec = {
            "id": str(m.market_id),
            "question": m.question,
            "conditionId": m.condition_id,
            "slug": m.slug,
            "endDate": _iso(int(m.end_ts)),
            "startDate": _iso(int(m.open_ts)),
            "createdAt": _iso(int(m.open_ts)),
            "liquidity": f"{m.liquidity:.4f}",
            "volume": f"{m.liquidity * 3.1:.4f}",
            "outcomes": json.dumps([m.outcome0, m.outcome1]),
            "outcomePrices": json.dumps(prices),
            "active": True,
            "closed": bool(closed),
            "closedTime": _gamma_time(int(m.closed_ts)) if closed else None,
            "umaResolutionStatus": uma,
            "umaResolutionStatuses": json.dumps([uma] if uma else []),
            "enableOrderBook": True,
            "acceptingOrders": not closed,
            "orderPriceMinTickSize": TICK,
            "orderMinSize": 5,
            "negRisk": bool(m.neg_risk),
            "events": [{"id": self.event_id(m.event_slug), "slug": m.event_slug,
                        "title": m.event_slug.replace("-", " ").title()}],
        }
        if self.world.config.serve_category_field:
            rec["category"] = m.category
        if include_tag:
            rec["tags"] = [tag_record(t) for t in m.market_tags]
        rec["version"] = str(m.version)
        if m.version == "v2":
            rec["positionIds"] = tokens
        else:
            rec["clobTokenIds"] = json.dumps(tokens)
        return rec

    def event_id(self, event_slug: str) -> str:
        if not hasattr(self, "_event_ids"):
            slugs = sorted(set(self.world.markets["event_slug"]))
            self._event_ids = {sl: str(90_000 + i) for i, sl in enumerate(slugs)}
        return self._event_ids[event_slug]

    def event_gamma(self, event_slug: str, market_idx: list[int], now: int) -> dict:
        """Gamma's event record: its tags and its markets (each with its own tags)."""
        m = self.world.markets
        first = int(market_idx[0])
        markets = [self.market_gamma(int(i), now, include_tag=True) for i in market_idx]
        return {
            "id": self.event_id(event_slug),
            "ticker": event_slug,
            "slug": event_slug,
            "title": event_slug.replace("-", " ").title(),
            "startDate": _iso(int(m["open_ts"].iloc[market_idx].min())),
            "endDate": _iso(int(m["end_ts"].iloc[market_idx].max())),
            "active": True,
            "closed": all(mk["closed"] for mk in markets),
            "negRisk": bool(m["neg_risk"].iat[first]),
            "tags": [tag_record(t) for t in m["event_tags"].iat[first]],
            "markets": markets,
        }

    # ---- CLOB ------------------------------------------------------------------------
    def top_of_book(self, mi: int, k: int, now: int) -> tuple[np.random.Generator, float, float]:
        """The book's random stream (deterministic per minute) after it drew the spread, and
        the best bid and ask (USD/share)."""
        w = self.world
        p = w.token_price(mi, k, now)
        rng = np.random.default_rng([w.config.seed, mi, k, now // 60])
        mid = round(p / TICK) * TICK
        best_bid = max(TICK, round(mid - TICK, 2))
        best_ask = min(1 - TICK, round(best_bid + TICK * (1 + int(rng.random() < 0.3)), 2))
        return rng, best_bid, best_ask

    def book(self, mi: int, k: int, now: int) -> dict:
        """An order book around the token's current price, deterministic per minute."""
        m = self.world.market_row(mi)
        rng, best_bid, best_ask = self.top_of_book(mi, k, now)
        depth = float(m.liquidity) / 40.0
        levels = 8
        bids = []
        asks = []
        for j in range(levels):
            bp = round(best_bid - j * TICK, 2)
            ap = round(best_ask + j * TICK, 2)
            if bp >= TICK:
                bids.append({"price": f"{bp:.2f}", "size": f"{depth * rng.uniform(0.3, 1.5) / max(bp, 0.05):.2f}"})
            if ap <= 1 - TICK:
                asks.append({"price": f"{ap:.2f}", "size": f"{depth * rng.uniform(0.3, 1.5) / max(ap, 0.05):.2f}"})
        # The real CLOB lists bids ascending and asks descending (best price last).
        bids.reverse()
        asks.reverse()
        return {
            "market": m.condition_id,
            "asset_id": str(m.token0 if k == 0 else m.token1),
            "timestamp": str(now * 1000),
            "hash": f"{abs(hash((mi, k, now // 60))):x}",
            "bids": bids,
            "asks": asks,
            "min_order_size": "5",
            "tick_size": f"{TICK}",
            "neg_risk": bool(m.neg_risk),
        }

    def trade_ts(self, row: int) -> int:
        return self._ts[self.row_trade(row)]

    # ---- Data API /activity: movements other than trades -----------------------------
    def activity_v1(self, i: int) -> dict:
        """Activity row ``i`` of ``world.activity`` in the v1 /activity shape. Movements of
        the whole condition (SPLIT, MERGE, REDEEM, rewards) carry an empty ``asset`` and
        ``outcomeIndex`` 999, as the real API serves them."""
        a = self._act
        mi, w, k = a["market"][i], a["wallet"][i], a["k"][i]
        token = self._tokens[mi][k] if k >= 0 else ""
        return {
            "proxyWallet": self._addr[w],
            "timestamp": a["ts"][i],
            "conditionId": self._cid[mi],
            "type": a["type"][i],
            "size": a["size"][i],
            "usdcSize": a["usdc"][i],
            "transactionHash": self.world.tx_hashes[a["tx"][i]],
            "price": 0,
            "asset": token,
            "side": "",
            "outcomeIndex": k if k >= 0 else 999,
            "title": self._title[mi],
            "slug": self._slug[mi],
            "icon": "",
            "eventSlug": self._event[mi],
            "outcome": self._outcomes[mi][k] if k >= 0 else "",
            "name": self._name[w],
            "pseudonym": self._pseudo[w],
            "bio": "",
            "profileImage": "",
            "profileImageOptimized": "",
        }

    def activity_v2(self, i: int) -> dict:
        v1 = self.activity_v1(i)
        out = {v2: v1[v1_key] for v2, v1_key in _V2_FROM_V1 if v1_key in v1}
        out["type"] = v1["type"]
        out["usdc_size"] = v1["usdcSize"]
        return out

    def trade_activity_v2(self, row: int) -> dict:
        """A trade as a /v2/activity row."""
        out = self.trade_v2(row)
        out["type"] = "TRADE"
        return out

    @property
    def _act(self) -> dict:
        if not hasattr(self, "_act_cache"):
            a = self.world.activity
            self._act_cache = {"ts": a["ts"].tolist(), "wallet": a["wallet_idx"].tolist(),
                               "market": a["market_idx"].tolist(), "k": a["outcome_index"].tolist(),
                               "type": a["type"].tolist(), "size": a["size"].tolist(),
                               "usdc": a["usdc_size"].tolist(), "tx": a["tx_idx"].tolist()}
        return self._act_cache


_V2_FROM_V1 = (
    ("proxy_wallet", "proxyWallet"), ("side", "side"), ("token_id", "asset"),
    ("condition_id", "conditionId"), ("size", "size"), ("price", "price"),
    ("timestamp", "timestamp"), ("title", "title"), ("slug", "slug"),
    ("event_slug", "eventSlug"), ("outcome", "outcome"), ("outcome_index", "outcomeIndex"),
    ("name", "name"), ("pseudonym", "pseudonym"), ("transaction_hash", "transactionHash"),
)


def tag_record(slug: str) -> dict:
    """A Gamma tag as markets and events embed it (ids are strings)."""
    return {"id": str(_TAG_IDS.setdefault(slug, 1_000 + len(_TAG_IDS))), "label": slug.replace("-", " ").title(),
            "slug": slug, "forceShow": False, "createdAt": "2024-01-01T00:00:00Z", "updatedAt": "2024-01-01T00:00:00Z"}


# Stable tag ids per slug: the vocabulary is fixed, so ids are assigned in a fixed order.
_TAG_IDS: dict[str, int] = {}


def _init_tag_ids() -> None:
    from polycopy.sim.world import TAG_VOCABULARY, UNINFORMATIVE_TAGS

    for vocab in (*TAG_VOCABULARY.values(), UNINFORMATIVE_TAGS):
        for slug in vocab:
            _TAG_IDS.setdefault(slug, 1_000 + len(_TAG_IDS))


_init_tag_ids()


def _corrupt(rec: dict, kind: str) -> None:
    if kind == "missing_wallet":
        rec.pop("proxyWallet", None)
    elif kind == "price_above_one":
        rec["price"] = 1.7
    elif kind == "negative_price":
        rec["price"] = -0.2
    elif kind == "price_not_number":
        rec["price"] = "abc"
    elif kind == "negative_size":
        rec["size"] = -abs(rec["size"])
    elif kind == "missing_tx_hash":
        rec.pop("transactionHash", None)
    elif kind == "bad_side":
        rec["side"] = "HOLD"
    elif kind == "missing_timestamp":
        rec.pop("timestamp", None)
    elif kind == "empty_asset":
        rec["asset"] = ""
    elif kind == "bad_wallet":
        rec["proxyWallet"] = "0xnot-a-wallet"
    else:  # pragma: no cover - kinds are a closed set
        raise ValueError(kind)


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _gamma_time(ts: int) -> str:
    # Gamma's closedTime looks like "2025-03-28 04:34:20+00".
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00")

