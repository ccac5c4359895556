"""Every webhook's authentication: decided by hmac.compare_digest, with replay windows where signed.

Constant time is shown by behaviour: each check's verdict is whatever
``hmac.compare_digest`` answers (make it say yes and a forged signature passes, so no
other comparison took part), a wrong signature of the right length is refused, and
Stripe's and Donorbox's signed timestamps are accepted exactly within the configured
tolerance, before and after now.
"""

from __future__ import annotations

import hmac
import json
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from webhook_support import (
    ALL_HOOKS,
    SECRETS,
    bmc_headers,
    donorbox_headers,
    dumps,
    github_headers,
    helloasso_headers,
    make_config,
    patreon_headers,
    stripe_headers,
)

from bot.sources.webhooks import enabled_hooks, signatures
from bot.sources.webhooks.app import Hook

NOW = 1_750_000_000
TOLERANCE = 60
BODY = dumps({"type": "anything", "data": {"id": 1}})


@pytest.fixture
def hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Hook]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    text = ALL_HOOKS.replace(
        '[webhooks.stripe]\nsecret_env = "T_STRIPE"',
        f'[webhooks.stripe]\nsecret_env = "T_STRIPE"\ntolerance_seconds = {TOLERANCE}',
    ).replace(
        '[webhooks.donorbox]\nsecret_env = "T_DONORBOX"',
        f'[webhooks.donorbox]\nsecret_env = "T_DONORBOX"\ntolerance_seconds = {TOLERANCE}',
    )
    return {hook.name: hook for hook in enabled_hooks(make_config(tmp_path, text))}


def kofi_body(token: str) -> bytes:
    return urllib.parse.urlencode({"data": json.dumps({"verification_token": token})}).encode()


SIGNED: dict[str, tuple[str, Callable[[bytes], dict[str, str]]]] = {
    # platform -> (header holding the signature, genuine headers for a body)
    "github-sponsors": ("X-Hub-Signature-256", github_headers),
    "stripe": ("Stripe-Signature", lambda body: stripe_headers(body, at=NOW)),
    "patreon": ("X-Patreon-Signature", patreon_headers),
    "donorbox": ("Donorbox-Signature", lambda body: donorbox_headers(body, at=NOW)),
    "buymeacoffee": ("x-signature-sha256", bmc_headers),
    "helloasso": ("x-ha-signature", helloasso_headers),
}


def one_digit_off(value: str) -> str:
    return value[:-1] + ("0" if value[-1] != "0" else "1")


@pytest.fixture
def digest_says() -> Iterator[list[bool]]:
    """Replace hmac.compare_digest by one that records its calls and answers as told (None: truly)."""
    real = hmac.compare_digest
    answers: list[bool] = []
    calls: list[tuple[bytes | str, bytes | str]] = []

    def fake(a: bytes | str, b: bytes | str) -> bool:
        calls.append((a, b))
        return answers[0] if answers else real(a, b)  # type: ignore[type-var]

    signatures.hmac.compare_digest = fake  # type: ignore[assignment]
    try:
        yield answers
    finally:
        signatures.hmac.compare_digest = real
    assert calls, "no signature was compared with hmac.compare_digest"


@pytest.mark.parametrize("platform", sorted(SIGNED))
def test_a_wrong_signature_of_the_right_length_is_refused(hooks: dict[str, Hook], platform: str) -> None:
    header, sign = SIGNED[platform]
    genuine = sign(BODY)
    assert hooks[platform].check(BODY, genuine, NOW) is None
    forged = {**genuine, header: one_digit_off(genuine[header])}
    assert len(forged[header]) == len(genuine[header])
    assert hooks[platform].check(BODY, forged, NOW) == "signature does not match"
    assert hooks[platform].check(BODY + b" ", genuine, NOW) == "signature does not match"
    assert hooks[platform].check(BODY, {k: v for k, v in genuine.items() if k != header}, NOW)


@pytest.mark.parametrize("platform", sorted(SIGNED))
def test_the_verdict_is_hmac_compare_digests(
    hooks: dict[str, Hook], platform: str, digest_says: list[bool]
) -> None:
    header, sign = SIGNED[platform]
    forged = {**sign(BODY), header: one_digit_off(sign(BODY)[header])}
    assert hooks[platform].check(BODY, forged, NOW) is not None
    digest_says.append(True)  # compare_digest now says "equal" to anything
    assert hooks[platform].check(BODY, forged, NOW) is None, "another comparison took part"


def test_kofi_token_and_secret_paths_are_compared_with_compare_digest(
    hooks: dict[str, Hook], digest_says: list[bool]
) -> None:
    kofi = hooks["kofi"]
    right = kofi_body(SECRETS["T_KOFI"])
    wrong = kofi_body(one_digit_off(SECRETS["T_KOFI"]))
    assert kofi.check(right, {}, NOW) is None
    assert kofi.check(wrong, {}, NOW) == "verification_token does not match"
    assert not signatures.same_secret(SECRETS["T_OC"], one_digit_off(SECRETS["T_OC"]))
    assert signatures.same_secret(SECRETS["T_OC"], SECRETS["T_OC"])
    digest_says.append(True)
    assert kofi.check(wrong, {}, NOW) is None
    assert signatures.same_secret(SECRETS["T_OC"], "anything at all")


@pytest.mark.parametrize("platform", ["stripe", "donorbox"])
@pytest.mark.parametrize(
    ("age", "accepted"),
    [(0, True), (TOLERANCE, True), (TOLERANCE + 1, False), (-TOLERANCE, True), (-TOLERANCE - 1, False),
     (86_400, False), (-86_400, False)],
)  # fmt: skip
def test_replay_window_is_the_configured_tolerance(
    hooks: dict[str, Hook], platform: str, age: int, accepted: bool
) -> None:
    """A delivery signed ``age`` seconds ago (negative: in the future) is accepted only within the tolerance."""
    signed_at = NOW - age
    headers = (
        stripe_headers(BODY, at=signed_at) if platform == "stripe" else donorbox_headers(BODY, at=signed_at)
    )
    problem = hooks[platform].check(BODY, headers, NOW)
    if accepted:
        assert problem is None
    else:
        assert problem == f"timestamp outside the {TOLERANCE} s tolerance"


@pytest.mark.parametrize("platform", ["stripe", "donorbox"])
def test_a_replayed_signature_under_a_new_timestamp_is_refused(hooks: dict[str, Hook], platform: str) -> None:
    """The timestamp is inside what is signed: moving it forward breaks the signature."""
    old = NOW - 3600
    if platform == "stripe":
        signature = stripe_headers(BODY, at=old)["Stripe-Signature"].split("v1=")[1]
        headers = {"Stripe-Signature": f"t={NOW},v1={signature}"}
    else:
        signature = donorbox_headers(BODY, at=old)["Donorbox-Signature"].split(",")[1]
        headers = {"Donorbox-Signature": f"{NOW},{signature}"}
    assert hooks[platform].check(BODY, headers, NOW) == "signature does not match"


def test_stripe_accepts_any_of_several_v1_and_refuses_other_schemes(hooks: dict[str, Hook]) -> None:
    genuine = stripe_headers(BODY, at=NOW)["Stripe-Signature"]
    stamp, v1 = genuine.split(",")
    rolled = {"Stripe-Signature": f"{stamp},v1={'ab' * 32},{v1}"}  # during a secret roll: old and new
    assert hooks["stripe"].check(BODY, rolled, NOW) is None
    v0 = {"Stripe-Signature": f"{stamp},v0={v1.split('=')[1]}"}
    assert hooks["stripe"].check(BODY, v0, NOW) == "Stripe-Signature lacks t= or v1="
