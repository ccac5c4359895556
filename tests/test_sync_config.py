"""``[sources.*]``: each key checked when loaded, every problem as ``FILE:LINE: key: problem``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.config import ConfigError, parse_config

HEAD = '[project]\nname = "Test"\n\n'


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(HEAD + text, Path("config.toml"))
    return caught.value.problems


def test_a_valid_sources_section_and_its_defaults() -> None:
    config = parse_config(
        HEAD + '[sources.opencollective]\nslug = "donor-friends"\n\n[sources.stripe]\nsecret_key_env = "SK"\n'
        'since = 2024-01-01\n\n[sources.github_sponsors]\ntoken_env = "GH"\nlogin = "an-org"\ninterval_minutes = 0.5\n',
        Path("config.toml"),
    )
    sources = config.sources
    assert sources.opencollective is not None and sources.stripe is not None and sources.github_sponsors
    assert sources.opencollective.api_url == "https://api.opencollective.com/graphql/v2"
    assert sources.opencollective.token_env is None and sources.opencollective.interval_minutes == 60
    assert sources.stripe.api_base == "https://api.stripe.com" and sources.stripe.since == date(2024, 1, 1)
    assert sources.github_sponsors.api_url == "https://api.github.com/graphql"
    assert sources.github_sponsors.interval_minutes == 0.5
    assert list(sources.configured()) == ["opencollective", "stripe", "github_sponsors"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[sources.opencollective]\nslug = "x"\ntoken = "abc"\n',
         "config.toml:6: sources.opencollective.token: unknown key"),
        ('[sources.opencollective]\nslug = "Donor Friends"\n',
         "config.toml:5: sources.opencollective.slug: 'Donor Friends' is not an Open Collective slug"),
        ("[sources.opencollective]\n", "config.toml:4: sources.opencollective.slug: required key is missing"),
        ('[sources.opencollective]\nslug = "x"\ninterval_minutes = 0\n',
         "config.toml:6: sources.opencollective.interval_minutes: Input should be greater than 0"),
        ('[sources.opencollective]\nslug = "x"\napi_url = "ftp://example.org"\n',
         "config.toml:6: sources.opencollective.api_url: 'ftp://example.org' is not an http(s) URL"),
        ('[sources.stripe]\nsecret_key_env = "sk_live_123 456"\n',
         "config.toml:5: sources.stripe.secret_key_env: this looks like a secret, not a variable name"),
        ("[sources.stripe]\n", "config.toml:4: sources.stripe.secret_key_env: required key is missing"),
        ('[sources.github_sponsors]\ntoken_env = "GH"\nlogin = "a b"\n',
         "config.toml:6: sources.github_sponsors.login: 'a b' is not a GitHub login"),
        ('[sources.patreon]\n', "config.toml:4: sources.patreon: unknown key"),
    ],
)  # fmt: skip
def test_each_problem_names_its_file_line_and_key(text: str, expected: str) -> None:
    found = problems(text)
    assert any(p.startswith(expected) for p in found), found
