"""CLOB V2 orders as Polymarket's exchanges sign them: the contracts, the EIP-712 typed
data of an order, its hash (the venue's order id) and the signer recovered from it.

Facts from Polymarket's CTF Exchange V2 (and the official SDK's production
configuration): domain "Polymarket CTF Exchange", version "2" on the exchange or the
neg-risk exchange; Protocol-V2 position ids (bits 40..103 clear) trade on ExchangeV3,
version "3". The order struct has no nonce, fee rate or taker; ``timestamp`` is in ms.
"""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

CHAIN_ID = 137
# Polymarket's contracts on Polygon (the SDK's production configuration).
COLLATERAL = "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB"
CONDITIONAL_TOKENS = "0x4D97DCd97eC945f40cF65F87097ACe5EA0476045"
POSITION_MANAGER = "0x006F54F7f9A22e0000CC2AB60031000000ae9fEF"
EXCHANGE = "0xE111180000d2663C0091e4f400237545B87B996B"
NEG_RISK_EXCHANGE = "0xe2222d279d744050d28e00520010520000310F59"
EXCHANGE_V3 = "0xe3333700cA9d93003F00f0F71f8515005F6c00Aa"
COLLATERAL_ADAPTER = "0xAdA100Db00Ca00073811820692005400218FcE1f"
NEG_RISK_COLLATERAL_ADAPTER = "0xadA2005600Dec949baf300f4C6120000bDB6eAab"
PROTOCOL_V2_ROUTER = "0x12121212006e4CD160D18e3f00711DA5c3372600"
_V2_RESERVED_BITS = ((1 << 64) - 1) << 40
EIP712_DOMAIN_TYPE = [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
             {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}]
_ORDER_T = [{"name": n, "type": t} for n, t in (
    ("salt", "uint256"), ("maker", "address"), ("signer", "address"), ("tokenId", "uint256"),
    ("makerAmount", "uint256"), ("takerAmount", "uint256"), ("side", "uint8"), ("signatureType", "uint8"),
    ("timestamp", "uint256"), ("metadata", "bytes32"), ("builder", "bytes32"))]
_TYPED_DATA_SIGN_T = [{"name": "contents", "type": "Order"}, {"name": "name", "type": "string"},
                      {"name": "version", "type": "string"}, {"name": "chainId", "type": "uint256"},
                      {"name": "verifyingContract", "type": "address"}, {"name": "salt", "type": "bytes32"}]


def is_v2_position_id(token_id: str) -> bool:
    """Protocol-V2 position ids leave bits 40..103 clear (the SDK's test, on-chain layout)."""
    return (int(token_id) & _V2_RESERVED_BITS) == 0


def exchange_for(token_id: str, neg_risk: bool) -> tuple[str, str]:
    """(verifying contract, EIP-712 domain version) an order on this token is signed for."""
    if is_v2_position_id(token_id):
        return EXCHANGE_V3, "3"
    return (NEG_RISK_EXCHANGE if neg_risk else EXCHANGE), "2"


def order_typed_data(order: dict, exchange: str, version: str) -> dict:
    """The EIP-712 typed data of a CLOB V2 order as posted (signature types 0–2)."""
    return {"types": {"EIP712Domain": EIP712_DOMAIN_TYPE, "Order": _ORDER_T}, "primaryType": "Order",
            "domain": {"name": "Polymarket CTF Exchange", "version": version, "chainId": CHAIN_ID,
                       "verifyingContract": exchange},
            "message": _order_message(order)}


def _order_message(order: dict) -> dict:
    return {"salt": int(order["salt"]), "maker": order["maker"], "signer": order["signer"],
           "tokenId": int(order["tokenId"]), "makerAmount": int(order["makerAmount"]),
           "takerAmount": int(order["takerAmount"]), "side": 0 if order["side"] == "BUY" else 1,
           "signatureType": int(order["signatureType"]), "timestamp": int(order["timestamp"]),
           "metadata": order["metadata"], "builder": order["builder"]}


def recover_order_signer(order: dict, exchange: str, version: str) -> str:
    """The address that signed a posted CLOB V2 order (for signature type 3, the owner of
    the deposit wallet, through its ERC-7739 nested typed-data signature)."""
    sig = bytes.fromhex(str(order["signature"]).removeprefix("0x"))
    if int(order["signatureType"]) != 3:
        return Account.recover_message(encode_typed_data(full_message=order_typed_data(order, exchange, version)),
                                       signature=sig)
    msg = _order_message(order)
    domain = {"name": "Polymarket CTF Exchange", "version": version, "chainId": CHAIN_ID,
              "verifyingContract": exchange}
    td = {"types": {"EIP712Domain": EIP712_DOMAIN_TYPE, "Order": _ORDER_T, "TypedDataSign": _TYPED_DATA_SIGN_T},
          "primaryType": "TypedDataSign", "domain": domain,
          "message": {"contents": msg, "name": "DepositWallet", "version": "1", "chainId": CHAIN_ID,
                      "verifyingContract": order["signer"], "salt": "0x" + "00" * 32}}
    return Account.recover_message(encode_typed_data(full_message=td), signature=sig[:65])


def order_hash(order: dict, exchange: str, version: str) -> str:
    """The order's EIP-712 hash (0x-hex): the id the exchange knows the order by, known
    before the order is sent."""
    sm = encode_typed_data(full_message=order_typed_data(order, exchange, version))
    return "0x" + keccak(b"\x19" + sm.version + sm.header + sm.body).hex()
