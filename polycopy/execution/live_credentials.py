"""The credentials of live trading: read from the environment only, never shown.

A private key signs orders; the wallet (funder) holds the pUSD and the outcome tokens and
is the orders' maker; the signature type links them (0 EOA: the wallet is the key's
address; 1 Polymarket proxy; 2 Gnosis safe; 3 deposit wallet, POLY_1271). API credentials
are optional: without them the SDK derives them from the key (L1).

Secrets live in ``Secret`` values: their ``repr`` and ``str`` are a fixed mask, so a
credentials object can be logged, put in an exception or in run metadata without leaking.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from polycopy.configuration import ConfigurationError

PRIVATE_KEY_VAR = "POLYCOPY_LIVE_PRIVATE_KEY"
WALLET_VAR = "POLYCOPY_LIVE_WALLET"
SIGNATURE_TYPE_VAR = "POLYCOPY_LIVE_SIGNATURE_TYPE"
API_KEY_VAR = "POLYCOPY_LIVE_API_KEY"
API_SECRET_VAR = "POLYCOPY_LIVE_API_SECRET"
API_PASSPHRASE_VAR = "POLYCOPY_LIVE_API_PASSPHRASE"
LIVE_VARIABLES = (PRIVATE_KEY_VAR, WALLET_VAR, SIGNATURE_TYPE_VAR, API_KEY_VAR, API_SECRET_VAR, API_PASSPHRASE_VAR)
SIGNATURE_TYPES = {0: "EOA", 1: "Polymarket proxy", 2: "Gnosis safe", 3: "deposit wallet (POLY_1271)"}
MASK = "***"
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}\Z")
_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}\Z")


class Secret:
    """A secret string: ``reveal()`` gives it; ``repr``, ``str`` and formatting give a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return MASK

    def __reduce__(self):  # never pickled into run storage
        raise TypeError("a Secret cannot be pickled")

    def __eq__(self, other) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


@dataclass(frozen=True)
class LiveCredentials:
    """What live trading signs and pays with. Addresses are public; the key and the API
    secret and passphrase are ``Secret``."""

    private_key: Secret
    wallet: str | None  # None: the key's own address (signature type 0)
    signature_type: int
    api_key: str | None
    api_secret: Secret | None
    api_passphrase: Secret | None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> "LiveCredentials":
        """Read the live credentials, or raise ConfigurationError in one line naming every
        missing or malformed variable (never its value)."""
        problems = []
        key = (environ.get(PRIVATE_KEY_VAR) or "").strip()
        if not key:
            problems.append(f"{PRIVATE_KEY_VAR} is missing (the key that signs orders)")
        elif not _KEY.fullmatch(key):
            problems.append(f"{PRIVATE_KEY_VAR} is not a 32-byte hex private key")
        wallet = (environ.get(WALLET_VAR) or "").strip() or None
        if wallet is not None and not _ADDRESS.fullmatch(wallet):
            problems.append(f"{WALLET_VAR} is not a 0x-prefixed 20-byte address")
        raw_type = (environ.get(SIGNATURE_TYPE_VAR) or "").strip()
        sig_type = 0
        if raw_type:
            if raw_type.isdigit() and int(raw_type) in SIGNATURE_TYPES:
                sig_type = int(raw_type)
            else:
                problems.append(f"{SIGNATURE_TYPE_VAR} must be one of "
                                + ", ".join(f"{k} ({v})" for k, v in SIGNATURE_TYPES.items()))
        if sig_type == 0 and wallet is not None and _KEY.fullmatch(key) and \
                wallet.lower() != _address_of(key).lower():
            problems.append(f"{WALLET_VAR} is not the address of {PRIVATE_KEY_VAR}: with signature type 0 (EOA) the "
                            "key's own address trades (a proxy, safe or deposit wallet needs its signature type)")
        if sig_type != 0 and wallet is None:
            problems.append(f"{WALLET_VAR} is missing: signature type {sig_type} ({SIGNATURE_TYPES[sig_type]}) "
                            "trades from a wallet other than the key's address")
        api = {v: (environ.get(v) or "").strip() for v in (API_KEY_VAR, API_SECRET_VAR, API_PASSPHRASE_VAR)}
        if any(api.values()) and not all(api.values()):
            problems.append("API credentials are all or nothing: " + ", ".join(
                f"{v} is missing" for v, x in api.items() if not x))
        if problems:
            raise ConfigurationError("live trading cannot start: " + "; ".join(problems))
        return cls(Secret(key if key.startswith("0x") else "0x" + key), wallet, sig_type,
                   api[API_KEY_VAR] or None, Secret(api[API_SECRET_VAR]) if api[API_SECRET_VAR] else None,
                   Secret(api[API_PASSPHRASE_VAR]) if api[API_PASSPHRASE_VAR] else None)

    def secrets(self) -> list[str]:
        """The secret values, for scrubbing text that may have captured one."""
        return [s.reveal() for s in (self.private_key, self.api_secret, self.api_passphrase) if s is not None]


def _address_of(key: str) -> str:
    from eth_account import Account

    return Account.from_key(key if key.startswith("0x") else "0x" + key).address


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every occurrence of a secret (with or without its 0x prefix) masked."""
    # Longest first: the 0x-prefixed form before the bare one, or "0x" would be left behind.
    forms = sorted({f for s in secrets for f in (s, s.removeprefix("0x")) if len(f) >= 8}, key=len, reverse=True)
    for form in forms:
        text = text.replace(form, MASK)
    return text
