"""The simulated venue's CLOB V2 trading API: the routes, shapes, signatures and errors
Polymarket's official SDK (``polymarket-client``) uses to trade, answered for the venue's
funded test accounts.

- L1 auth: an EIP-712 ``ClobAuth`` signature creates or derives an account's API key.
- L2 auth: HMAC-SHA256 headers, checked on every private route.
- ``POST /order``: the order's EIP-712 signature is recovered (domain "Polymarket CTF
  Exchange", version "2" on the exchange or the neg-risk exchange, version "3" on
  ExchangeV3 for Protocol-V2 position ids) and must name the account's signer and maker;
  tick size, minimum size (5 shares for resting orders, $1 for market orders), expiration
  and balance/allowance are enforced; an order signed the V1 way is refused with
  ``order_version_mismatch``.
- Matching against the venue's order book: FOK (all or nothing), FAK (what is there, the
  rest killed), GTC/GTD (what crosses now, the rest rests and fills when the book reaches
  it; GTD expires). Liquidity taken is gone for the rest of that book's minute. Takers pay
  shares × rate × (p(1−p))^exponent in pUSD; makers pay nothing.
- Cancels, orders, account trades, balance/allowance, the approvals the SDK checks, and
  heartbeats: an account that started heartbeats and then falls silent for
  ``HEARTBEAT_TIMEOUT_S`` wall seconds has its resting orders cancelled.
- A minimal JSON-RPC (``/rpc``) for the transactions an externally owned account sends:
  ERC-20 ``approve`` and ERC-1155 ``setApprovalForAll`` (the SDK's allowance repair) and
  ``redeemPositions`` of a resolved market (pUSD paid at 1 / 0, 0.5 void); ``eth_call``
  reads of pUSD balances and allowances, operator approvals and Protocol-V2 balances.
- The relayer's ``GET /deployed?address=&type=``, all the SDK asks of it when a client
  signs in for a wallet other than its key's address (a proxy, safe or deposit wallet):
  ``{"deployed": true}`` for a funded account's wallet of that kind. Relayed (gasless)
  transactions are not served: approvals and redemption of such wallets are granted when
  the account is funded, and redemption goes through an externally owned account.

Amounts on the wire are in base units of 6 decimals, as on Polymarket.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

from polycopy.polymarket.clob_orders import (CHAIN_ID, COLLATERAL, COLLATERAL_ADAPTER, CONDITIONAL_TOKENS,
                                             EXCHANGE, EXCHANGE_V3, NEG_RISK_COLLATERAL_ADAPTER, NEG_RISK_EXCHANGE,
                                             POSITION_MANAGER, PROTOCOL_V2_ROUTER, EIP712_DOMAIN_TYPE, exchange_for,
                                             is_v2_position_id, order_hash, order_typed_data,
                                             recover_order_signer)

UNIT = 10**6  # base units per pUSD / per share
MAX_UINT256 = 2**256 - 1
HEARTBEAT_TIMEOUT_S = 10.0
MIN_LIMIT_SHARES = Decimal(5)
MIN_MARKET_USD = Decimal(1)
# Everything a fully approved account has approved (what GET /v2/approvals reports).
ERC20_SPENDERS = (EXCHANGE, NEG_RISK_EXCHANGE, COLLATERAL_ADAPTER, NEG_RISK_COLLATERAL_ADAPTER,
                  PROTOCOL_V2_ROUTER, EXCHANGE_V3,
                  "0xDCa4af75705dbB50f62437045afF9921947917d2")
CTF_OPERATORS = (EXCHANGE, NEG_RISK_EXCHANGE, COLLATERAL_ADAPTER, NEG_RISK_COLLATERAL_ADAPTER,
                 "0xa1200000d0002264C9a1698e001292D00E1b00af", "0x1000008dD9001B968442c1000017eaE6E0dA00Ba",
                 "0x200000900045e3B6259600682756002200028933")
POSITION_MANAGER_OPERATORS = (PROTOCOL_V2_ROUTER, EXCHANGE_V3,
                              "0xa1200000d0002264C9a1698e001292D00E1b00af")
AUTH_MESSAGE = "This message attests that I control the given wallet"
TICKS = {Decimal("0.1"), Decimal("0.01"), Decimal("0.001"), Decimal("0.0001")}
SELECTOR_APPROVE = bytes.fromhex("095ea7b3")
SELECTOR_SET_APPROVAL_FOR_ALL = bytes.fromhex("a22cb465")
SELECTOR_REDEEM = bytes.fromhex("01b7037c")
SELECTOR_ROUTER_REDEEM = bytes.fromhex("d217a3cc")  # redeem(bytes31,uint256,uint256) of Protocol-V2 positions
SELECTOR_BALANCE_OF = bytes.fromhex("00fdd58e")
SELECTOR_BALANCE_OF_BATCH = bytes.fromhex("4e1273f4")
SELECTOR_ALLOWANCE = bytes.fromhex("dd62ed3e")  # ERC-20 allowance(owner, spender)
SELECTOR_ERC20_BALANCE_OF = bytes.fromhex("70a08231")  # ERC-20 balanceOf(owner)
SELECTOR_IS_APPROVED_FOR_ALL = bytes.fromhex("e985e9c5")  # ERC-1155 isApprovedForAll(owner, operator)

_CLOB_AUTH_T = [{"name": "address", "type": "address"}, {"name": "timestamp", "type": "string"},
                {"name": "nonce", "type": "uint256"}, {"name": "message", "type": "string"}]
# Errors as the real CLOB words them (the SDK maps some of them to codes).
FOK_KILLED = "order couldn't be fully filled. FOK orders are fully filled or killed."
FAK_KILLED = "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found."


class ClobError(Exception):
    """A request the venue refuses: HTTP ``status`` and the venue's own message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


PRIVATE_ROUTES = {("GET", "/auth/api-keys"), ("POST", "/order"), ("POST", "/orders"), ("DELETE", "/order"),
                  ("DELETE", "/orders"), ("DELETE", "/cancel-all"), ("DELETE", "/cancel-market-orders"),
                  ("GET", "/data/orders"), ("GET", "/data/trades"), ("GET", "/balance-allowance"),
                  ("GET", "/balance-allowance/update"), ("POST", "/v1/heartbeats"),
                  ("GET", "/auth/ban-status/closed-only")}
PUBLIC_ROUTES = {("POST", "/auth/api-key"), ("GET", "/auth/derive-api-key")}


def is_clob_route(method: str, path: str) -> bool:
    """Whether a request is one of the trading API's (the read routes are served elsewhere)."""
    return ((method, path) in PRIVATE_ROUTES or (method, path) in PUBLIC_ROUTES
            or (method == "GET" and path.startswith(("/data/order/", "/markets-by-token/", "/clob-markets/"))))


def recover_auth_signer(headers) -> str:
    """The address that signed an L1 ``ClobAuth`` request."""
    td = {"types": {"EIP712Domain": EIP712_DOMAIN_TYPE[:3], "ClobAuth": _CLOB_AUTH_T}, "primaryType": "ClobAuth",
          "domain": {"name": "ClobAuthDomain", "version": "1", "chainId": CHAIN_ID},
          "message": {"address": headers["POLY_ADDRESS"], "timestamp": str(headers["POLY_TIMESTAMP"]),
                      "nonce": int(headers.get("POLY_NONCE") or 0), "message": AUTH_MESSAGE}}
    return Account.recover_message(encode_typed_data(full_message=td), signature=headers["POLY_SIGNATURE"])


def hmac_signature(secret: str, timestamp: str, method: str, path: str, body: str) -> str:
    """L2 signature: url-safe base64 of HMAC-SHA256(secret, timestamp + METHOD + path + body)."""
    key = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    digest = hmac.new(key, f"{timestamp}{method}{path}{body}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


def _taker_fee(shares: Decimal, p: Decimal, m: dict) -> Decimal:
    """The taker fee in pUSD: shares × rate × (p(1−p))^exponent, the market's rate and exponent."""
    return shares * Decimal(str(m["fee_rate"])) * (p * (1 - p)) ** int(m["fee_exponent"])


def _dec(units: int) -> Decimal:
    return Decimal(units) / UNIT


def _s(x: Decimal) -> str:
    """A decimal as the CLOB writes it: a string, no exponent, no trailing zeros."""
    q = x.quantize(Decimal("0.000001"), rounding=ROUND_DOWN).normalize()
    return format(q, "f")


@dataclass
class ClobAccount:
    """A funded test account: its signing key's address, the wallet that holds its funds
    (the order's maker) and the signature type that links them."""

    signer: str
    wallet: str
    signature_type: int
    collateral: int = 0  # pUSD, base units
    positions: dict[str, int] = field(default_factory=dict)  # token id -> shares, base units
    allowances: dict[str, int] = field(default_factory=dict)  # ERC-20 spender -> pUSD base units
    operators: set[str] = field(default_factory=set)  # ERC-1155 operators approved
    heartbeat_id: str | None = None
    heartbeat_at: float | None = None  # wall clock (s)


@dataclass
class ClobOrder:
    id: str
    owner: str  # API key
    wallet: str
    token_id: str
    condition_id: str
    outcome: str
    side: str
    order_type: str
    price: Decimal
    size: Decimal  # shares (for a market BUY: the shares its amount buys at its price)
    budget: Decimal | None  # a market BUY's amount (pUSD)
    created_at: int
    expiration: int
    matched: Decimal = Decimal(0)
    spent: Decimal = Decimal(0)
    status: str = "LIVE"
    trades: list[str] = field(default_factory=list)


class SimClob:
    """The exchange: accounts, orders, trades and their books. ``market_of(token)`` gives
    (condition id, outcome name, neg_risk, tick, fee rate, fee exponent, closed) or None;
    ``book_of(token, now)`` the venue's book ``{"bids": [(p, q)...], "asks": ...}`` best
    first; ``payout_of(condition_id, now)`` the payout per share of each outcome once the
    market has resolved, else None."""

    def __init__(self, market_of, book_of, payout_of, clock, secret: bytes = b"polycopy-sim"):
        self.market_of, self.book_of, self.payout_of, self.clock = market_of, book_of, payout_of, clock
        self._secret = secret
        self._lock = threading.RLock()
        self.accounts: dict[str, ClobAccount] = {}  # by wallet
        self._by_signer: dict[str, ClobAccount] = {}
        self._keys: dict[str, tuple[str, str, str]] = {}  # api key -> (secret, passphrase, signer)
        self.orders: dict[str, ClobOrder] = {}
        self.trades: list[dict] = []
        self._taken: dict[tuple, Decimal] = defaultdict(Decimal)  # (token, side, price, minute) -> shares
        self.nonces: dict[str, int] = defaultdict(int)
        self.receipts: dict[str, dict] = {}
        self.stats: dict[str, int] = defaultdict(int)
        self.heartbeat_timeout_s = HEARTBEAT_TIMEOUT_S

    # ---- accounts ---------------------------------------------------------------------
    def fund(self, signer: str, wallet: str | None = None, signature_type: int = 0, collateral_usd: float = 0.0,
             positions: dict[str, float] | None = None, approved: bool = True) -> ClobAccount:
        """Create or top up a test account (USD, shares); ``approved`` grants every approval."""
        signer = to_checksum_address(signer)
        wallet = to_checksum_address(wallet or signer)
        if signature_type == 0 and wallet != signer:
            raise ValueError("signature type 0 (EOA): the wallet is the signer")
        with self._lock:
            acct = self.accounts.get(wallet) or ClobAccount(signer, wallet, signature_type)
            self.accounts[wallet] = acct
            self._by_signer[signer] = acct
            acct.collateral += int(round(collateral_usd * UNIT))
            for tok, shares in (positions or {}).items():
                acct.positions[str(tok)] = acct.positions.get(str(tok), 0) + int(round(shares * UNIT))
            if approved:
                acct.allowances.update({s: MAX_UINT256 for s in ERC20_SPENDERS})
                acct.operators.update(CTF_OPERATORS + POSITION_MANAGER_OPERATORS)
            return acct

    def api_key_for(self, signer: str, nonce: int) -> dict:
        """The account's API credentials, derived from its address and nonce."""
        seed = hmac.new(self._secret, f"{to_checksum_address(signer)}:{nonce}".encode(), hashlib.sha256).digest()
        key = str(uuid.UUID(bytes=seed[:16]))
        secret = base64.urlsafe_b64encode(hashlib.sha256(seed + b"secret").digest()).decode()
        passphrase = hashlib.sha256(seed + b"passphrase").hexdigest()
        self._keys[key] = (secret, passphrase, to_checksum_address(signer))
        return {"apiKey": key, "secret": secret, "passphrase": passphrase}

    def _l1(self, headers) -> tuple[str, int]:
        try:
            addr = to_checksum_address(headers["POLY_ADDRESS"])
            ts = int(headers["POLY_TIMESTAMP"])
            recovered = recover_auth_signer(headers)
        except Exception:  # noqa: BLE001 - any malformed header is the same refusal
            raise ClobError(401, "Unauthorized/Invalid L1 Request headers")
        if recovered != addr or abs(time.time() - ts) > 300:
            raise ClobError(401, "Unauthorized/Invalid L1 Request headers")
        if addr not in self._by_signer:
            raise ClobError(401, f"Unauthorized: {addr} is not a funded test account of this venue")
        return addr, int(headers.get("POLY_NONCE") or 0)

    def _l2(self, headers, method: str, path: str, body: str) -> ClobAccount:
        key = headers.get("POLY_API_KEY")
        known = self._keys.get(key or "")
        if known is None:
            raise ClobError(401, "Unauthorized/Invalid api key")
        secret, passphrase, signer = known
        ok = (headers.get("POLY_PASSPHRASE") == passphrase
              and to_checksum_address(headers.get("POLY_ADDRESS") or "0x" + "0" * 40) == signer
              and hmac.compare_digest(hmac_signature(secret, headers.get("POLY_TIMESTAMP", ""), method, path, body),
                                      headers.get("POLY_SIGNATURE", "")))
        if not ok:
            raise ClobError(401, "Unauthorized/Invalid api key")
        return self._by_signer[signer]

    # ---- the HTTP surface -------------------------------------------------------------
    def handle(self, method: str, path: str, q: dict, headers, raw: bytes) -> tuple[int, object] | None:
        """Answer a CLOB trading request; None when the path is not one of these routes."""
        if not is_clob_route(method, path):
            return None
        body = raw.decode() if raw else ""
        try:
            with self._lock:
                self._sweep()
                return self._dispatch(method, path, q, headers, body)
        except ClobError as exc:
            return exc.status, {"error": exc.message}

    def _dispatch(self, method, path, q, headers, body):
        if (method, path) in PUBLIC_ROUTES:  # create and derive give the same key: it is derived
            addr, nonce = self._l1(headers)
            return 200, self.api_key_for(addr, nonce)
        if path.startswith("/markets-by-token/") and method == "GET":
            m = self._market(path.rsplit("/", 1)[1], status=404)
            return 200, {"condition_id": m["condition_id"]}
        if path.startswith("/clob-markets/") and method == "GET":
            return self._clob_market(path.rsplit("/", 1)[1])
        acct = self._l2(headers, method, path, body)
        key = headers["POLY_API_KEY"]
        if path == "/auth/api-keys":
            return 200, {"apiKeys": [k for k, v in self._keys.items() if v[2] == acct.signer]}
        if path == "/order":
            if method == "POST":
                return 200, self._post(acct, key, json.loads(body))
            return 200, self._cancel(acct, [json.loads(body).get("orderID", "")])
        if path == "/orders":
            if method == "POST":
                items = json.loads(body)
                if not isinstance(items, list) or len(items) > 15:
                    raise ClobError(400, "a batch holds 1 to 15 orders")
                return 200, [self._post_or_error(acct, key, o) for o in items]
            return 200, self._cancel(acct, list(json.loads(body)))
        if path == "/cancel-all":
            return 200, self._cancel(acct, [o.id for o in self.orders.values()
                                            if o.wallet == acct.wallet and o.status == "LIVE"])
        if path == "/cancel-market-orders":
            sel = json.loads(body or "{}")
            return 200, self._cancel(acct, [o.id for o in self.orders.values() if o.wallet == acct.wallet
                                            and o.status == "LIVE"
                                            and sel.get("asset_id") in (None, o.token_id)
                                            and sel.get("market") in (None, o.condition_id)])
        if path.startswith("/data/order/"):
            o = self.orders.get(path.rsplit("/", 1)[1])
            if o is None or o.wallet != acct.wallet:
                raise ClobError(404, "order not found")
            return 200, self._order_json(o)
        if path == "/data/orders":
            rows = [self._order_json(o) for o in self.orders.values() if o.wallet == acct.wallet
                    and o.status == "LIVE" and q.get("id") in (None, o.id)
                    and q.get("asset_id") in (None, o.token_id) and q.get("market") in (None, o.condition_id)]
            return 200, {"data": rows, "next_cursor": "LTE="}
        if path == "/data/trades":
            after, before = int(q.get("after") or 0), int(q.get("before") or 2**62)
            rows = [t for t in self.trades if t["_wallet"] == acct.wallet and after <= t["match_time"] <= before
                    and q.get("id") in (None, t["id"]) and q.get("asset_id") in (None, t["asset_id"])
                    and q.get("market") in (None, t["market"])]
            return 200, {"data": [{k: v for k, v in t.items() if not k.startswith("_")} for t in rows],
                         "next_cursor": "LTE="}
        if path.startswith("/balance-allowance"):
            return 200, self._balance_allowance(acct, q)
        if path == "/v1/heartbeats":
            return self._heartbeat(acct, json.loads(body or "{}"))
        return 200, {"closed_only": False}

    # ---- markets ----------------------------------------------------------------------
    def _market(self, token_id: str, status: int = 400) -> dict:
        m = self.market_of(str(token_id))
        if m is None:
            raise ClobError(status, f"market not found for token {token_id}")
        return m

    def _clob_market(self, condition_id: str):
        m = self.market_of(condition_id=condition_id)
        if m is None:
            return 404, {"error": "market not found"}
        return 200, {"t": [{"t": t} for t in m["tokens"]], "mts": m["tick"], "nr": m["neg_risk"],
                     "fd": {"r": m["fee_rate"], "e": m["fee_exponent"]}}

    # ---- orders -------------------------------------------------------------------------
    def _post_or_error(self, acct, key, item):
        try:
            return self._post(acct, key, item)
        except ClobError as exc:
            return {"success": False, "errorMsg": exc.message, "orderID": "", "status": "",
                    "makingAmount": "", "takingAmount": ""}

    def _post(self, acct: ClobAccount, api_key: str, req: dict) -> dict:
        self.stats["orders_received"] += 1
        o = req.get("order") or {}
        if any(k in o for k in ("nonce", "feeRateBps", "taker")) or "timestamp" not in o:
            raise ClobError(400, "order_version_mismatch")
        if req.get("owner") != api_key:
            raise ClobError(400, "the order's owner is not the API key that sent it")
        order_type = str(req.get("orderType") or "GTC").upper()
        if order_type not in ("FOK", "FAK", "GTC", "GTD"):
            raise ClobError(400, f"invalid order type {order_type}")
        token = str(o.get("tokenId"))
        m = self._market(token)
        exchange, version = exchange_for(token, m["neg_risk"])
        try:
            recovered = recover_order_signer(o, exchange, version)
        except Exception:  # noqa: BLE001 - a malformed signature or field is an invalid signature
            raise ClobError(400, "invalid signature")
        sig_type = int(o.get("signatureType", -1))
        signer_ok = (recovered == to_checksum_address(o["signer"]) if sig_type in (0, 1, 2)
                     else recovered == acct.signer and o["signer"] == o["maker"])
        if not signer_ok or recovered != acct.signer:
            raise ClobError(400, "invalid signature")
        if sig_type != acct.signature_type or to_checksum_address(o["maker"]) != acct.wallet:
            raise ClobError(400, f"the order's maker and signature type ({sig_type}) do not match the account")
        order_id = order_hash(o, exchange, version)
        if order_id in self.orders:
            raise ClobError(400, "duplicate order: it was already received")
        if m["closed"]:
            raise ClobError(400, "the market is not accepting orders")
        now = self.clock.now()
        expiration = int(o.get("expiration") or 0)
        if order_type == "GTD":
            if expiration < now + 60:
                raise ClobError(400, f"invalid expiration {expiration}: a GTD order must live at least a minute")
        elif expiration:
            raise ClobError(400, f"invalid expiration {expiration}: only GTD orders expire")
        if req.get("postOnly") and order_type not in ("GTC", "GTD"):
            raise ClobError(400, "invalid post-only order: only GTC and GTD orders can be post-only")
        side = o["side"]
        maker_amt, taker_amt = _dec(int(o["makerAmount"])), _dec(int(o["takerAmount"]))
        if maker_amt <= 0 or taker_amt <= 0:
            raise ClobError(400, "invalid order amounts")
        price = (maker_amt / taker_amt) if side == "BUY" else (taker_amt / maker_amt)
        tick = Decimal(str(m["tick"]))
        market_order = order_type in ("FOK", "FAK")
        if not market_order and (price % tick != 0 or not tick <= price <= 1 - tick):
            raise ClobError(400, f"invalid tick size: price {_s(price)} is not a multiple of {_s(tick)} "
                                 f"within [{_s(tick)}, {_s(1 - tick)}]")
        if market_order:  # amounts were rounded from a price on the tick grid
            price = min(max((price / tick).to_integral_value() * tick, tick), 1 - tick)
        size = taker_amt if side == "BUY" else maker_amt
        if not market_order and size < MIN_LIMIT_SHARES:
            raise ClobError(400, f"Size ({_s(size)}) lower than the minimum: {_s(MIN_LIMIT_SHARES)}")
        notional = maker_amt if side == "BUY" else taker_amt
        if market_order and notional < MIN_MARKET_USD:
            raise ClobError(400, f"invalid amount for a marketable order ({_s(notional)}), min size: $1")
        self._check_funds(acct, m, side, token, maker_amt, price, exchange)
        budget = maker_amt if side == "BUY" and market_order else None
        order = ClobOrder(order_id, api_key, acct.wallet, token, m["condition_id"], m["outcome"], side, order_type,
                          price, size, budget, now, expiration)
        self.orders[order_id] = order
        if req.get("postOnly") and self._crosses(order, now):
            order.status = "CANCELED"
            raise ClobError(400, "invalid post-only order: order crosses book")
        making, taking, trade_ids = self._take(acct, order, m, now)
        if market_order and order.matched == 0:
            order.status = "UNMATCHED"
            return {"success": False, "errorMsg": FOK_KILLED if order_type == "FOK" else FAK_KILLED,
                    "orderID": order_id, "status": "unmatched", "makingAmount": "0", "takingAmount": "0"}
        if market_order or order.matched >= order.size:
            order.status = "MATCHED"  # a market order's unfilled rest is killed
        status = "matched" if order.matched > 0 else "live"
        return {"success": True, "errorMsg": "", "orderID": order_id, "status": status,
                "makingAmount": _s(making), "takingAmount": _s(taking), "tradeIDs": trade_ids,
                "transactionsHashes": ["0x" + keccak(t.encode()).hex() for t in trade_ids]}

    def _check_funds(self, acct, m, side, token, maker_amt: Decimal, price: Decimal, exchange: str) -> None:
        if side == "BUY":
            fee = _taker_fee(maker_amt / price, price, m)
            need = maker_amt + fee
            have = _dec(acct.collateral) - self._reserved(acct, "BUY")
            allowance = _dec(acct.allowances.get(exchange, 0))
            if allowance < need:
                raise ClobError(400, f"not enough balance / allowance: the allowance is not enough -> spender: "
                                     f"{exchange}, allowance: {_s(allowance)}, order amount: {_s(need)}")
            if have < need:
                raise ClobError(400, f"not enough balance / allowance: the balance is not enough -> balance: "
                                     f"{_s(have)}, order amount: {_s(need)}")
        else:
            have = _dec(acct.positions.get(token, 0)) - self._reserved(acct, "SELL", token)
            if exchange not in acct.operators:
                raise ClobError(400, f"not enough balance / allowance: the allowance is not enough -> operator "
                                     f"{exchange} is not approved for the account's outcome tokens")
            if have < maker_amt:
                raise ClobError(400, f"not enough balance / allowance: the balance is not enough -> balance: "
                                     f"{_s(have)}, order amount: {_s(maker_amt)}")

    def _reserved(self, acct, side, token=None) -> Decimal:
        """What the account's resting orders hold back: pUSD for BUYs, shares for SELLs."""
        out = Decimal(0)
        for o in self.orders.values():
            if o.wallet == acct.wallet and o.status == "LIVE" and o.side == side and token in (None, o.token_id):
                left = o.size - o.matched
                out += left * o.price if side == "BUY" else left
        return out

    def taken(self, token_id: str, side: str, price, now: int) -> Decimal:
        """Shares of the book's ``side`` ("bids"/"asks") at ``price`` that orders took this
        minute (the book is drawn afresh each minute)."""
        with self._lock:
            return self._taken.get((str(token_id), side, Decimal(str(price)), now // 60), Decimal(0))

    def _levels(self, order: ClobOrder, now: int) -> list[tuple[Decimal, Decimal]]:
        """The book's opposite side within the order's price, best first, less what was taken
        from it this minute."""
        book = self.book_of(order.token_id, now)
        if book is None:
            return []
        side = "asks" if order.side == "BUY" else "bids"
        out = []
        for p, q in book[side]:
            p, q = Decimal(str(p)), Decimal(str(q))
            if (order.side == "BUY" and p > order.price) or (order.side == "SELL" and p < order.price):
                break
            q -= self._taken[(order.token_id, side, p, now // 60)]
            if q > 0:
                out.append((p, q))
        return out

    def _crosses(self, order: ClobOrder, now: int) -> bool:
        return bool(self._levels(order, now))

    def _take(self, acct, order: ClobOrder, m, now: int):
        """Match the order as a taker against the book; FOK fills all or nothing."""
        levels = self._levels(order, now)
        fills = []
        left_shares = order.size - order.matched
        left_budget = order.budget
        for p, q in levels:
            if left_budget is not None:
                q = min(q, (left_budget / p).quantize(Decimal("0.000001"), rounding=ROUND_DOWN))
            else:
                q = min(q, left_shares)
                left_shares -= q
            if q <= 0:
                break
            fills.append((p, q))
            if left_budget is not None:
                left_budget -= p * q
                if left_budget < Decimal("0.000001"):
                    break
            elif left_shares <= 0:
                break
        filled = sum((q for _, q in fills), Decimal(0))
        if order.order_type == "FOK":
            complete = (left_budget is not None and left_budget < Decimal("0.01")) or (
                left_budget is None and filled >= order.size)
            if not complete:
                return Decimal(0), Decimal(0), []
        if order.budget is not None:
            order.size = filled
        making = taking = Decimal(0)
        ids = []
        for p, q in fills:
            side = "asks" if order.side == "BUY" else "bids"
            self._taken[(order.token_id, side, p, now // 60)] += q
            ids.append(self._fill(acct, order, p, q, _taker_fee(q, p, m), Decimal(str(m["fee_rate"])), "TAKER", now))
            making += p * q if order.side == "BUY" else q
            taking += q if order.side == "BUY" else p * q
        return making, taking, ids

    def _fill(self, acct, order: ClobOrder, p: Decimal, q: Decimal, fee: Decimal, rate: Decimal, role: str,
              now: int) -> str:
        cash = int((p * q * UNIT).to_integral_value())
        fee_units = int((fee * UNIT).to_integral_value())
        shares = int((q * UNIT).to_integral_value())
        if order.side == "BUY":
            acct.collateral -= cash + fee_units
            acct.positions[order.token_id] = acct.positions.get(order.token_id, 0) + shares
        else:
            acct.collateral += cash - fee_units
            acct.positions[order.token_id] = acct.positions.get(order.token_id, 0) - shares
        order.matched += q
        order.spent += p * q
        trade_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{order.id}:{len(order.trades)}"))
        order.trades.append(trade_id)
        rate_bps = rate * 10_000
        self.trades.append({
            "id": trade_id, "taker_order_id": order.id if role == "TAKER" else "0x" + "0" * 64,
            "market": order.condition_id, "asset_id": order.token_id, "side": order.side, "size": _s(q),
            "fee_rate_bps": _s(rate_bps), "price": _s(p), "status": "CONFIRMED", "match_time": now,
            "last_update": now, "outcome": order.outcome, "bucket_index": 0, "owner": order.owner,
            "maker_address": order.wallet, "transaction_hash": "0x" + keccak(trade_id.encode()).hex(),
            "trader_side": role, "fee_usd": _s(fee),
            "maker_orders": [] if role == "TAKER" else [{
                "order_id": order.id, "owner": order.owner, "maker_address": order.wallet,
                "matched_amount": _s(q), "price": _s(p), "fee_rate_bps": "0", "asset_id": order.token_id,
                "outcome": order.outcome, "side": order.side}],
            "_wallet": order.wallet, "_order": order.id,
        })
        return trade_id

    def _cancel(self, acct, ids: list[str]) -> dict:
        canceled, not_canceled = [], {}
        for oid in ids:
            o = self.orders.get(oid)
            if o is None or o.wallet != acct.wallet:
                not_canceled[oid] = "order not found"
            elif o.status != "LIVE":
                not_canceled[oid] = f"order is {o.status.lower()}, it cannot be canceled"
            else:
                o.status = "CANCELED"
                canceled.append(oid)
        return {"canceled": canceled, "not_canceled": not_canceled}

    def _order_json(self, o: ClobOrder) -> dict:
        return {"id": o.id, "status": o.status, "owner": o.owner, "maker_address": o.wallet,
                "market": o.condition_id, "asset_id": o.token_id, "side": o.side, "original_size": _s(o.size),
                "size_matched": _s(o.matched), "price": _s(o.price), "outcome": o.outcome,
                "expiration": str(o.expiration), "order_type": o.order_type, "associate_trades": list(o.trades),
                "created_at": o.created_at}

    def _balance_allowance(self, acct, q) -> dict:
        kind = (q.get("asset_type") or "COLLATERAL").upper()
        if kind == "COLLATERAL":
            return {"balance": str(acct.collateral),
                    "allowances": {s: str(acct.allowances.get(s, 0)) for s in (EXCHANGE, NEG_RISK_EXCHANGE,
                                                                                EXCHANGE_V3)}}
        token = q.get("token_id") or ""
        ops = (EXCHANGE_V3,) if kind == "CONDITIONAL-V2" else (EXCHANGE, NEG_RISK_EXCHANGE)
        return {"balance": str(max(acct.positions.get(token, 0), 0)),
                "allowances": {s: str(MAX_UINT256 if s in acct.operators else 0) for s in ops}}

    def _heartbeat(self, acct, body: dict):
        sent = body.get("heartbeat_id") or ""
        if acct.heartbeat_id is not None and sent != acct.heartbeat_id:
            return 400, {"error_msg": "Invalid Heartbeat ID", "heartbeat_id": acct.heartbeat_id}
        acct.heartbeat_id = str(uuid.uuid4())
        acct.heartbeat_at = time.monotonic()
        return 200, {"heartbeat_id": acct.heartbeat_id}

    RELAYER_WALLET_TYPES = {"PROXY": 1, "SAFE": 2, "WALLET": 3}

    def deployed(self, address: str, kind: str | None) -> tuple[int, dict]:
        """Relayer ``GET /deployed``: whether a proxy, safe or deposit wallet (``kind`` PROXY,
        SAFE or WALLET; any when None) exists: a funded account's wallet of that kind."""
        try:
            acct = self.accounts.get(to_checksum_address(address))
        except ValueError:
            return 400, {"error": f"invalid address {address!r}"}
        want = self.RELAYER_WALLET_TYPES.get(str(kind or "").upper())
        ok = acct is not None and acct.signature_type != 0 and want in (None, acct.signature_type)
        return 200, {"deployed": ok}

    def approvals(self, user: str) -> tuple[int, dict]:
        """Data API ``GET /v2/approvals``: every approval the SDK checks, and its state."""
        acct = self.accounts.get(to_checksum_address(user))
        rows = []
        for s in ERC20_SPENDERS:
            amt = acct.allowances.get(s, 0) if acct else 0
            rows.append({"token": COLLATERAL, "spender": s, "standard": "ERC20", "approved": amt > 0,
                         "amount": str(amt)})
        for token, ops in ((CONDITIONAL_TOKENS, CTF_OPERATORS), (POSITION_MANAGER, POSITION_MANAGER_OPERATORS)):
            for s in ops:
                rows.append({"token": token, "spender": s, "standard": "ERC1155",
                             "approved": bool(acct and s in acct.operators)})
        return 200, {"data": {"address": to_checksum_address(user), "chain_id": CHAIN_ID, "contracts": rows}}

    # ---- time ---------------------------------------------------------------------------
    def _sweep(self) -> None:
        """Silent heartbeats cancel resting orders; GTD orders expire; resting orders the
        book has reached fill at their price (as makers)."""
        now = self.clock.now()
        wall = time.monotonic()
        for acct in self.accounts.values():
            if acct.heartbeat_at is not None and wall - acct.heartbeat_at > self.heartbeat_timeout_s:
                for o in self.orders.values():
                    if o.wallet == acct.wallet and o.status == "LIVE":
                        o.status = "CANCELED"
                        self.stats["cancelled_by_heartbeat"] += 1
                acct.heartbeat_at = acct.heartbeat_id = None
        for o in list(self.orders.values()):
            if o.status != "LIVE":
                continue
            m = self.market_of(o.token_id)
            if (o.order_type == "GTD" and now >= o.expiration) or m is None or m["closed"]:
                o.status = "CANCELED"
                continue
            levels = self._levels(o, now)
            if levels:
                acct = self.accounts[o.wallet]
                q = min(sum((q for _, q in levels), Decimal(0)), o.size - o.matched)
                side = "asks" if o.side == "BUY" else "bids"
                self._taken[(o.token_id, side, levels[0][0], now // 60)] += q
                self._fill(acct, o, o.price, q, Decimal(0), Decimal(0), "MAKER", now)
                if o.matched >= o.size:
                    o.status = "MATCHED"

    # ---- JSON-RPC -----------------------------------------------------------------------
    def rpc(self, req) -> object:
        """Answer a JSON-RPC request (or a batch) of an externally owned account's wallet."""
        if isinstance(req, list):
            return [self.rpc(r) for r in req]
        method, params, rid = req.get("method"), req.get("params") or [], req.get("id")
        try:
            with self._lock:
                result = self._rpc(method, params)
            return {"jsonrpc": "2.0", "id": rid, "result": result}
        except ClobError as exc:
            return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32000, "message": exc.message}}

    def _rpc(self, method, params):
        if method == "eth_chainId":
            return hex(CHAIN_ID)
        if method == "eth_getTransactionCount":
            return hex(self.nonces[to_checksum_address(params[0])])
        if method == "eth_gasPrice":
            return hex(30 * 10**9)
        if method == "eth_estimateGas":
            return hex(200_000)
        if method == "eth_getTransactionReceipt":
            return self.receipts.get(params[0])
        if method == "eth_getBlockByNumber":
            return {"timestamp": hex(self.clock.now()), "number": hex(1)}
        if method == "eth_sendRawTransaction":
            return self._transaction(params[0])
        if method == "eth_call":
            return self._call(params[0])
        raise ClobError(400, f"method {method} is not served by this venue")

    def _transaction(self, raw_hex: str) -> str:
        import rlp

        raw = bytes.fromhex(raw_hex.removeprefix("0x"))
        sender = Account.recover_transaction(raw)
        fields = rlp.decode(raw)
        to, data = to_checksum_address(fields[3]), bytes(fields[5])
        tx_hash = "0x" + keccak(raw).hex()
        acct = self._by_signer.get(sender)
        if acct is None or acct.signature_type != 0:
            raise ClobError(400, f"{sender} is not a funded externally owned account of this venue")
        self.nonces[sender] += 1
        selector, args = data[:4], data[4:]
        if selector == SELECTOR_APPROVE and to == COLLATERAL:
            spender, amount = abi_decode(["address", "uint256"], args)
            acct.allowances[to_checksum_address(spender)] = amount
        elif selector == SELECTOR_SET_APPROVAL_FOR_ALL and to in (CONDITIONAL_TOKENS, POSITION_MANAGER):
            operator, approved = abi_decode(["address", "bool"], args)
            (acct.operators.add if approved else acct.operators.discard)(to_checksum_address(operator))
        elif selector == SELECTOR_REDEEM and to in (COLLATERAL_ADAPTER, NEG_RISK_COLLATERAL_ADAPTER):
            _, _, condition, _ = abi_decode(["address", "bytes32", "bytes32", "uint256[]"], args)
            self._redeem(acct, "0x" + condition.hex())
        elif selector == SELECTOR_ROUTER_REDEEM and to == PROTOCOL_V2_ROUTER:
            structural, outcome, amount = abi_decode(["bytes31", "uint256", "uint256"], args)
            self._redeem(acct, "0x" + structural.hex() + "00", only=(int(outcome), int(amount)))
        else:
            raise ClobError(400, f"transaction to {to} with selector 0x{selector.hex()} is not served by this venue")
        self.receipts[tx_hash] = {"transactionHash": tx_hash, "status": "0x1", "blockNumber": hex(1)}
        return tx_hash

    def _call(self, call: dict) -> str:
        """eth_call: pUSD balances and allowances (what the SDK reads before granting
        approvals), outcome-token operator approvals, and the Protocol-V2 position
        manager's ERC-1155 balances."""
        data = bytes.fromhex(str(call.get("data", "")).removeprefix("0x"))
        to = to_checksum_address(call.get("to"))
        word = lambda typ, v: "0x" + abi_encode([typ], [v]).hex()  # noqa: E731
        account = lambda owner: self.accounts.get(to_checksum_address(owner))  # noqa: E731
        if to == COLLATERAL and data[:4] == SELECTOR_ALLOWANCE:
            owner, spender = abi_decode(["address", "address"], data[4:])
            acct = account(owner)
            return word("uint256", acct.allowances.get(to_checksum_address(spender), 0) if acct else 0)
        if to == COLLATERAL and data[:4] == SELECTOR_ERC20_BALANCE_OF:
            (owner,) = abi_decode(["address"], data[4:])
            acct = account(owner)
            return word("uint256", acct.collateral if acct else 0)
        if to in (CONDITIONAL_TOKENS, POSITION_MANAGER) and data[:4] == SELECTOR_IS_APPROVED_FOR_ALL:
            owner, operator = abi_decode(["address", "address"], data[4:])
            acct = account(owner)
            return word("bool", bool(acct) and to_checksum_address(operator) in acct.operators)
        if to != POSITION_MANAGER:
            raise ClobError(400, f"eth_call to {call.get('to')} is not served by this venue")
        def held(owner, token_id):
            acct = account(owner)
            return max(acct.positions.get(str(token_id), 0), 0) if acct else 0
        if data[:4] == SELECTOR_BALANCE_OF:
            owner, token_id = abi_decode(["address", "uint256"], data[4:])
            return "0x" + abi_encode(["uint256"], [held(owner, token_id)]).hex()
        if data[:4] == SELECTOR_BALANCE_OF_BATCH:
            owners, ids = abi_decode(["address[]", "uint256[]"], data[4:])
            return "0x" + abi_encode(["uint256[]"], [[held(o, i) for o, i in zip(owners, ids)]]).hex()
        raise ClobError(400, f"eth_call selector 0x{data[:4].hex()} is not served by this venue")

    def _redeem(self, acct, condition_id: str, only: tuple[int, int] | None = None) -> None:
        """Pay out an account's shares of a resolved market in pUSD (``only``: one outcome
        and at most that many base units, as the Protocol-V2 router redeems)."""
        m = self.market_of(condition_id=condition_id)
        if m is None:
            raise ClobError(400, f"unknown condition {condition_id}")
        payouts = self.payout_of(condition_id, self.clock.now())
        if payouts is None:
            raise ClobError(400, f"condition {condition_id} is not resolved: nothing to redeem")
        credit = 0
        for k, (token, payout) in enumerate(zip(m["tokens"], payouts)):
            if only is not None and k != only[0]:
                continue
            held = acct.positions.get(token, 0)
            shares = held if only is None else min(held, only[1])
            acct.positions[token] = held - shares
            credit += int(shares * Decimal(str(payout)))
        acct.collateral += credit
        self.stats["redemptions"] += 1
