"""Polymarket's official SDK (``polymarket-client``, import ``polymarket``) pointed at the
venue polycopy trades on.

The SDK knows only Polymarket's production hosts and offers no public way to use others;
the simulated venue (and any staging host) needs its environment factory, which lives in
the SDK's private ``_internal`` package. This module is the one place that reaches into
it; ``tests/test_clob_v2_venue.py`` fails if that factory or its fields change.
"""

from __future__ import annotations

import dataclasses

from polymarket import PRODUCTION, Environment


def sdk_environment(clob_url: str | None = None, data_url: str | None = None, gamma_url: str | None = None,
                    rpc_url: str | None = None, relayer_url: str | None = None, name: str = "polycopy") -> Environment:
    """The production environment with the given hosts replaced; PRODUCTION itself when
    none is given. Contract addresses and the chain id stay Polymarket's."""
    overrides = {k: v for k, v in {"clob_url": clob_url, "data_url": data_url, "gamma_url": gamma_url,
                                   "rpc_url": rpc_url, "relayer_url": relayer_url}.items() if v}
    if not overrides:
        return PRODUCTION
    from polymarket._internal.environment import create_environment, get_environment_config

    config = dataclasses.replace(get_environment_config(PRODUCTION), **overrides)
    return create_environment(name=name, config=config)


def single_host_environment(url: str) -> Environment:
    """Every API of the simulated venue on one host, its JSON-RPC at ``/rpc``."""
    url = url.rstrip("/")
    return sdk_environment(clob_url=url, data_url=url, gamma_url=url, rpc_url=f"{url}/rpc", relayer_url=url,
                           name="sim")


def posted_order_fields(signed) -> dict:
    """A ``SignedOrder`` of the SDK as its order goes on the wire (the fields the venue
    hashes and verifies)."""
    return {"salt": signed.salt, "maker": signed.maker, "signer": signed.signer, "tokenId": str(signed.token_id),
            "makerAmount": str(signed.maker_amount), "takerAmount": str(signed.taker_amount), "side": signed.side,
            "signatureType": signed.signature_type, "timestamp": str(signed.timestamp), "metadata": signed.metadata,
            "builder": signed.builder, "expiration": str(signed.expiration), "signature": signed.signature}


def venue_order_id(signed, neg_risk: bool) -> str:
    """The id the venue will give a signed order (its EIP-712 hash), known before it is
    sent, so that a crash between sending and recording can be looked up, never re-sent."""
    from polycopy.polymarket.clob_orders import exchange_for, order_hash

    exchange, version = exchange_for(str(signed.token_id), neg_risk)
    return order_hash(posted_order_fields(signed), exchange, version)
