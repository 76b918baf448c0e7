"""Live venue: the copy chain's orders on Polymarket's CLOB V2 through the official SDK.

The same contract as the paper venue: a BUY is a fill-or-kill market order spending an
amount of USD no worse than a limit price, a SELL a fill-and-kill market order for a number
of shares no better than a limit; both answer with an ``Execution``.

Crash safety. The order is signed first and the id the venue will give it (its EIP-712
hash) is written to the pending order in the ledger before it is sent. A pending order
found after a crash is looked up at the venue by that id and settled from the venue's own
record (the order and the account's trades that took it); an order the venue never saw
is cancelled, never re-sent.

Rejections keep the venue's own words (``not enough balance / allowance: ...``, ``FOK
orders are fully filled or killed``, ``invalid signature``...). Nothing secret is ever in
what this module returns or raises: texts from the SDK are scrubbed of the credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from eth_account import Account

from polycopy.execution.live_credentials import SIGNATURE_TYPE_VAR, SIGNATURE_TYPES, LiveCredentials, scrub
from polycopy.execution.paper import Execution, spend_amount, taker_fee_usd
from polycopy.polymarket.clob_orders import is_v2_position_id

UNIT = 1_000_000  # pUSD and outcome tokens have 6 decimals
TERMINAL_TRADE_FAILURE = "FAILED"  # a matched trade whose settlement failed on chain moved nothing
# The SDK's wallet kinds (derived from the key and the wallet address) as signature types.
SDK_WALLET_TYPES = {"EOA": 0, "POLY_PROXY": 1, "GNOSIS_SAFE": 2, "DEPOSIT_WALLET": 3}


@dataclass(frozen=True)
class StartupReport:
    """What live trading found at start-up: whose key signs, which wallet trades, its pUSD
    balance (USD) and the approvals it still lacks. ``problems`` is empty when it can trade."""

    signer: str
    wallet: str
    collateral_usd: float
    missing_approvals: tuple[str, ...]
    problems: tuple[str, ...]


class LiveVenueError(RuntimeError):
    """Live trading cannot go on (start-up checks failed, the SDK refused the credentials)."""


class LiveVenue:
    """Orders on the CLOB through a ``polymarket.SecureClient``; executions are the venue's."""

    name = "live"

    def __init__(self, ledger, sdk, clob, fee_rate: float, secrets: list[str] | None = None):
        self.ledger = ledger
        self.sdk = sdk
        self.clob = clob  # our public CLOB client: books (with the neg-risk flag)
        self.fee_rate = fee_rate
        self._secrets = list(secrets or [])

    @classmethod
    def connect(cls, ledger, clob, credentials: LiveCredentials, environment, fee_rate: float) -> "LiveVenue":
        """Sign in with the credentials (API key derived from the private key when none is
        given). Raises LiveVenueError, scrubbed of every secret, when the SDK refuses."""
        from polymarket import SecureClient
        from polymarket.models.clob.api_key import ApiKeyCreds

        api = None
        if credentials.api_key:
            api = ApiKeyCreds(apiKey=credentials.api_key, secret=credentials.api_secret.reveal(),
                              passphrase=credentials.api_passphrase.reveal())
        try:
            # Signature type 0 trades from the key's own address (the SDK's default would be
            # the key's deposit wallet).
            wallet = credentials.wallet or Account.from_key(credentials.private_key.reveal()).address
            sdk = SecureClient.create(private_key=credentials.private_key.reveal(), wallet=wallet,
                                      credentials=api, environment=environment)
        except Exception as exc:  # noqa: BLE001 - any refusal ends live trading, in words without secrets
            raise LiveVenueError("live trading cannot start: the venue refused the credentials: "
                                 + scrub(f"{type(exc).__name__}: {exc}", credentials.secrets())) from None
        return cls(ledger, sdk, clob, fee_rate, credentials.secrets())

    def close(self) -> None:
        self.sdk.close()

    def _words(self, exc: BaseException) -> str:
        return scrub(str(exc) or type(exc).__name__, self._secrets)

    # ---- start-up ------------------------------------------------------------------------
    def preflight(self, credentials: LiveCredentials | None = None, min_collateral_usd: float = 1.0
                  ) -> StartupReport:
        """Check the key's address, the wallet, its pUSD balance and its trading approvals."""
        problems = []
        signer, wallet = str(self.sdk.signer), str(self.sdk.wallet)
        if credentials is not None:
            expected = credentials.wallet or signer
            if expected.lower() != wallet.lower():
                problems.append(f"the venue signs in wallet {wallet}, not the configured {expected}")
            detected = SDK_WALLET_TYPES.get(str(self.sdk.wallet_type))
            if detected is not None and detected != credentials.signature_type:
                problems.append(f"{SIGNATURE_TYPE_VAR} is {credentials.signature_type} but wallet {wallet} is a "
                                f"{SIGNATURE_TYPES[detected]} (signature type {detected}) of this key")
        balance = self.sdk.get_balance_allowance(asset_type="COLLATERAL")
        collateral = balance.balance / UNIT
        if collateral < min_collateral_usd:
            problems.append(f"wallet {wallet} holds {collateral:,.2f} pUSD (at least {min_collateral_usd:,.2f} "
                            "needed to trade)")
        state = self.sdk.get_trading_approvals_state()
        missing = tuple([f"pUSD allowance for {a.spender}" for a in state.missing.erc20]
                        + [f"outcome-token operator {a.operator}" for a in state.missing.erc1155])
        if missing:
            problems.append(f"{len(missing)} trading approvals missing ({', '.join(missing)}); grant them from "
                            "the wallet (the SDK's setup_trading_approvals)")
        return StartupReport(signer, wallet, collateral, missing, tuple(problems))

    def approve(self) -> None:
        """Grant the standard trading approvals (pUSD allowances, outcome-token operators)."""
        self.sdk.setup_trading_approvals().wait()

    # ---- orders --------------------------------------------------------------------------
    def place(self, order_id: str, token_id: str, side: str, limit_price: float, *, usd: float = 0.0,
              shares: float = 0.0) -> Execution:
        """A BUY spends ``usd`` (USD, fill-or-kill), a SELL sells ``shares`` (fill-and-kill), no
        worse than ``limit_price`` (USD/share). The venue's id is saved on the pending order
        before it is sent. A transport failure leaves the order pending (raised): its
        outcome is then read from the venue by ``lookup``, never by sending it again."""
        from polymarket.errors import RequestRejectedError

        from polycopy.polymarket.sdk import venue_order_id

        try:
            neg_risk = bool(self.clob.book(token_id).neg_risk)
            if side == "BUY":
                signed = self.sdk.create_market_order(token_id=token_id, side="BUY", amount=f"{spend_amount(usd):.2f}",
                                                      max_price=_price(limit_price), order_type="FOK")
            else:
                signed = self.sdk.create_market_order(token_id=token_id, side="SELL", shares=f"{shares:.2f}",
                                                      min_price=_price(limit_price), order_type="FAK")
        except Exception as exc:  # noqa: BLE001 - refused before anything was sent: the order is rejected
            if _transport_failure(exc):
                raise
            return Execution(order_id, "rejected", 0.0, None, 0.0, (), f"not sent: {self._words(exc)}")
        vid = venue_order_id(signed, neg_risk)
        self.ledger.record_venue_order_id(order_id, vid)
        try:
            resp = self.sdk.post_order(signed)
        except RequestRejectedError as exc:
            if exc.status >= 500 or exc.status == 429:  # the venue may still have taken it: look it up later
                raise
            return Execution(order_id, "rejected", 0.0, None, 0.0, (), self._words(exc))
        if not resp.ok:
            return Execution(order_id, "rejected", 0.0, None, 0.0, (), scrub(resp.message, self._secrets))
        return self._execution(order_id, vid, token_id, side, shares, status_hint="MATCHED")

    def lookup(self, order_id: str) -> Execution | None:
        """The venue's record of an order by the id saved before it was sent; None when it was
        never signed or the venue never received it."""
        from polymarket.errors import RequestRejectedError

        row = self.ledger.order(order_id)
        vid = row and row.get("venue_order_id")
        if not vid:
            return None
        try:
            order = self.sdk.get_order(order_id=vid)
        except RequestRejectedError as exc:
            if exc.status == 404:
                return None
            raise
        status = str(order.status).upper()
        if status == "LIVE":
            raise LiveVenueError(f"order {vid} is still resting at the venue; a market order should not rest")
        return self._execution(order_id, vid, row["token_id"], row["side"], float(row["shares"]), status_hint=status)

    def _execution(self, order_id: str, vid: str, token_id: str, side: str, shares: float, status_hint: str
                   ) -> Execution:
        """An order's execution from the account's trades that it took as the taker."""
        levels, fee = [], 0.0
        for t in self.taker_trades(vid, token_id):
            p, q = float(t.price), float(t.size)
            levels.append((p, q))
            fee += taker_fee_usd(q, p, float(t.fee_rate_bps) / 10_000)
        filled = sum(q for _, q in levels)
        if filled <= 0:
            why = {"UNMATCHED": "killed: no fill within the limit", "CANCELED": "cancelled at the venue"}.get(
                status_hint, f"no fill (venue status {status_hint.lower()})")
            return Execution(order_id, "rejected", 0.0, None, 0.0, (), why)
        avg = sum(p * q for p, q in levels) / filled
        status = "partially_filled" if side == "SELL" and filled < shares - 0.005 else "filled"
        return Execution(order_id, status, filled, avg, fee, tuple(levels), None)

    def taker_trades(self, vid: str, token_id: str) -> list:
        """The account's trades of a token in which order ``vid`` was the taker (failed ones
        left out)."""
        return [t for t in self.sdk.list_account_trades(asset_id=token_id).iter_items()
                if t.taker_order_id == vid and str(t.status).upper() != TERMINAL_TRADE_FAILURE]

    # ---- the account, as the venue keeps it ---------------------------------------------------
    @property
    def wallet(self) -> str:
        return str(self.sdk.wallet)

    def collateral_usd(self) -> float:
        """The wallet's pUSD balance, USD."""
        return self.sdk.get_balance_allowance(asset_type="COLLATERAL").balance / UNIT

    def position_shares(self, token_id: str) -> float:
        """The wallet's balance of an outcome token (a Protocol-V2 position id or a CTF token), shares."""
        kind = "CONDITIONAL-V2" if is_v2_position_id(token_id) else "CONDITIONAL"
        return self.sdk.get_balance_allowance(asset_type=kind, token_id=token_id).balance / UNIT

    def open_orders(self) -> list:
        return list(self.sdk.list_open_orders().iter_items())

    def account_trades(self) -> list:
        """Every trade of the account (failed ones left out)."""
        return [t for t in self.sdk.list_account_trades().iter_items()
                if str(t.status).upper() != TERMINAL_TRADE_FAILURE]

    # ---- settlement ----------------------------------------------------------------------
    def redeem(self, condition_id: str) -> None:
        """Redeem the wallet's positions in a resolved market (pUSD back at the payout);
        redeeming again changes nothing."""
        self.sdk.redeem_positions(condition_id=condition_id).wait()


def _price(p: float) -> str:
    return format(Decimal(str(round(float(p), 6))).normalize(), "f")


def _transport_failure(exc: BaseException) -> bool:
    from polymarket.errors import RateLimitError, TimeoutError as SdkTimeout, TransportError

    return isinstance(exc, (TransportError, SdkTimeout, RateLimitError, ConnectionError))

