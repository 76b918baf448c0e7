"""Live credentials come from the environment only, are named (never shown) when missing or
malformed, and never appear in a repr, a format, an error or a pickle."""

import pickle

import pytest

from polycopy.configuration import ConfigurationError
from polycopy.execution.live_credentials import (API_KEY_VAR, API_PASSPHRASE_VAR, API_SECRET_VAR, PRIVATE_KEY_VAR,
                                                 SIGNATURE_TYPE_VAR, WALLET_VAR, LiveCredentials, scrub)

KEY = "0x" + "ab" * 32
WALLET = "0x" + "12" * 20


def test_nothing_set_names_the_key_in_one_line():
    with pytest.raises(ConfigurationError) as exc:
        LiveCredentials.from_env({})
    msg = str(exc.value)
    assert "\n" not in msg and PRIVATE_KEY_VAR in msg and "is missing" in msg


def test_every_problem_is_named_at_once_and_no_value_is_echoed():
    env = {PRIVATE_KEY_VAR: "not-a-key-but-secret", WALLET_VAR: "0x123", SIGNATURE_TYPE_VAR: "7",
           API_KEY_VAR: "k", API_SECRET_VAR: "s3cr3t-value"}
    with pytest.raises(ConfigurationError) as exc:
        LiveCredentials.from_env(env)
    msg = str(exc.value)
    for var in (PRIVATE_KEY_VAR, WALLET_VAR, SIGNATURE_TYPE_VAR, API_PASSPHRASE_VAR):
        assert var in msg
    assert "not-a-key-but-secret" not in msg and "s3cr3t-value" not in msg


def test_a_proxy_or_safe_needs_its_wallet():
    with pytest.raises(ConfigurationError, match=f"{WALLET_VAR} is missing: signature type 2"):
        LiveCredentials.from_env({PRIVATE_KEY_VAR: KEY, SIGNATURE_TYPE_VAR: "2"})


def test_secrets_are_masked_in_repr_format_and_refuse_pickling():
    c = LiveCredentials.from_env({PRIVATE_KEY_VAR: KEY[2:], WALLET_VAR: WALLET, SIGNATURE_TYPE_VAR: "1",
                                  API_KEY_VAR: "key-id", API_SECRET_VAR: "c2VjcmV0LXNlY3JldA==",
                                  API_PASSPHRASE_VAR: "pass-phrase-1"})
    assert c.private_key.reveal() == KEY and c.signature_type == 1 and c.wallet == WALLET
    shown = repr(c) + str(c) + f"{c.private_key}" + "%s" % c.api_secret
    for secret in c.secrets():
        assert secret not in shown and secret.removeprefix("0x") not in shown
    with pytest.raises(TypeError):
        pickle.dumps(c)
    text = f"signing with {KEY} failed; secret c2VjcmV0LXNlY3JldA== and {KEY[2:]}"
    assert scrub(text, c.secrets()) == "signing with *** failed; secret *** and ***"


def test_the_execution_location_will_not_load_in_live_or_approval_mode_without_credentials():
    """``POLYCOPY_MODE=live`` fails when the code location loads, in one line naming each
    missing variable; paper needs none; a mode that does not exist is named too."""
    import os
    import subprocess
    import sys

    code = "import polycopy_dagster.execution"
    base = {k: v for k, v in os.environ.items() if not k.startswith("POLYCOPY_")}
    for mode in ("live", "approval"):
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**base, "POLYCOPY_MODE": mode, "POLYCOPY_LIVE_API_KEY": "k"})
        assert p.returncode != 0
        last = p.stderr.strip().splitlines()[-1]
        assert "ConfigurationError" in last and PRIVATE_KEY_VAR in last and API_SECRET_VAR in last, last
    assert subprocess.run([sys.executable, "-c", code], env={**base, "POLYCOPY_MODE": "paper"}).returncode == 0
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**base, "POLYCOPY_MODE": "yolo"})
    assert "POLYCOPY_MODE='yolo' is not one of paper, approval, live" in p.stderr
