"""Splitting bulletins for Discord's 2,000 characters, nonces, settings and endpoint claims."""

from __future__ import annotations

from pathlib import Path

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route
from hypothesis import given
from hypothesis import strategies as st

from bot.chat.discord.endpoints import claim_endpoints
from bot.chat.discord.nonce import nonce_for
from bot.chat.discord.sender import bulletin_parts
from bot.chat.discord.split import split_paragraphs
from bot.chat.message import Message
from bot.config import ConfigError, parse_config

words = st.text(alphabet="abcdéfghijklmnopqrstuvwxyz0123456789*_", min_size=1, max_size=30)
lines = st.lists(words, min_size=1, max_size=60).map(" ".join)
paragraphs = st.lists(lines, min_size=1, max_size=8).map("\n".join)


@given(st.lists(paragraphs, min_size=1, max_size=30), st.integers(min_value=40, max_value=2000))
def test_parts_fit_and_keep_every_word_in_order(paras: list[str], limit: int) -> None:
    parts = split_paragraphs(paras, limit)

    assert all(0 < len(p) <= limit for p in parts)
    assert [w for p in parts for w in p.split()] == [w for para in paras for w in para.split()]


@given(st.lists(paragraphs, min_size=1, max_size=30))
def test_paragraphs_that_fit_are_never_cut(paras: list[str]) -> None:
    parts = split_paragraphs(paras, 2000)
    for para in paras:
        if len(para) <= 2000:
            assert any(para in part for part in parts)


def test_paragraphs_are_packed_then_lines_then_words() -> None:
    assert split_paragraphs(["aaa", "bbb", "ccc"], 8) == ["aaa\n\nbbb", "ccc"]
    assert split_paragraphs(["one line\nsecond line"], 15) == ["one line", "second line"]
    assert split_paragraphs(["alpha beta gamma delta"], 11) == ["alpha beta", "gamma delta"]


def test_only_a_word_longer_than_a_message_is_cut_inside() -> None:
    assert split_paragraphs(["x" * 25], 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_the_first_part_keeps_room_for_the_role_mention() -> None:
    message = Message(markdown="", text="", html="", paragraphs=("a" * 1970, "b" * 10))
    parts = bulletin_parts(message, mention_role=123456789012345678)
    assert parts[0] == "<@&123456789012345678>\n" + "a" * 1970 and len(parts[0]) <= 2000
    assert parts[1] == "b" * 10


def test_markdown_without_paragraphs_is_split_at_blank_lines() -> None:
    markdown = "\n\n".join(["p" * 1500, "q" * 1500])
    assert bulletin_parts(Message(markdown=markdown, text="", html="")) == ["p" * 1500, "q" * 1500]


def test_nonces_are_short_deterministic_and_distinct() -> None:
    key = "donorbot.bulletin.a-rather-long-target-name.2025-12.3"
    nonces = [nonce_for(key, part) for part in range(50)]
    assert all(len(n) <= 25 for n in nonces)
    assert len(set(nonces)) == 50
    assert nonces == [nonce_for(key, part) for part in range(50)]
    assert nonce_for(key.replace(".3", ".4"), 0) != nonces[0]


def _config(discord: str) -> str:
    return f'[project]\nname = "P"\n\n[discord]\n{discord}\n'


def test_discord_settings_check_urls(tmp_path: Path) -> None:
    settings = parse_config(
        _config('api_base = "http://127.0.0.1:9/api/v10/"\ngateway_url = "ws://127.0.0.1:9/gw"'),
        tmp_path / "c.toml",
    ).discord
    assert settings is not None and settings.api_base == "http://127.0.0.1:9/api/v10"
    with pytest.raises(ConfigError, match=r"discord.gateway_url: 'http://x' is not a ws\(s\) URL"):
        parse_config(_config('gateway_url = "http://x"'), tmp_path / "c.toml")
    with pytest.raises(ConfigError, match=r"discord\.admin_role"):
        parse_config(_config("admin_role = -1"), tmp_path / "c.toml")


def test_endpoint_claims_point_discord_py_and_refuse_a_second_server() -> None:
    original_base, original_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    first = claim_endpoints("http://127.0.0.1:1/api/v10")
    second = claim_endpoints("http://127.0.0.1:1/api/v10/")
    first.use_gateway("ws://127.0.0.1:1/gateway")
    assert Route("GET", "/users/@me").url == "http://127.0.0.1:1/api/v10/users/@me"
    assert str(DiscordWebSocket.DEFAULT_GATEWAY) == "ws://127.0.0.1:1/gateway"
    with pytest.raises(RuntimeError, match="close it before"):
        claim_endpoints("http://127.0.0.1:2/api/v10")
    first.release()
    first.release()  # idempotent: does not release the second claim
    assert Route.BASE == "http://127.0.0.1:1/api/v10"
    second.release()
    assert original_base == Route.BASE
    assert original_gateway == DiscordWebSocket.DEFAULT_GATEWAY
