"""The one TOML file: loaded with tomllib, validated with pydantic.

Every problem is reported as ``FILE:LINE: section.key: what is wrong``; unknown
keys are errors, so a typo is never silently ignored. Secrets are never in the
file: the file names the environment variables that hold them.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.money import is_currency

__all__ = [
    "Config",
    "ConfigError",
    "ConsoleTarget",
    "DiscordSettings",
    "DiscordTarget",
    "GitHubSponsorsSource",
    "Goal",
    "MatrixSettings",
    "MatrixTarget",
    "OpenCollectiveSource",
    "SourcesSettings",
    "StripeSource",
    "Target",
    "default_config_path",
    "load_config",
    "looks_like_secret",
    "parse_config",
]

DEFAULT_CRON = "0 10 1 * *"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class ConfigError(Exception):
    """The configuration is wrong. ``problems`` holds one readable line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


# --- validators shared by several sections -------------------------------------------------


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise ValueError(f"{value[:80]!r} is not an IANA time zone (e.g. Europe/Paris)") from exc
    if value not in available_timezones() and value != "UTC":
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Paris)")
    return value


def _locale(value: str) -> str:
    # One path for every locale (the project's, a target's, --locale): a language donorbot has
    # no texts in is refused here, so nothing is ever posted half in English.
    from bot.i18n import UnsupportedLocale, resolve

    try:
        return resolve(value).locale
    except UnsupportedLocale as exc:
        raise ValueError(str(exc)) from None


def _currency(value: str) -> str:
    if not is_currency(value):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code (e.g. EUR, USD)")
    return value


def _cron(value: str) -> str:
    # The parser the schedule runs on is the one that judges it.
    from bot.crontab import CrontabError, parse_crontab

    try:
        parse_crontab(value)
    except CrontabError as exc:
        raise ValueError(f"{value!r} is not a cron expression ({exc})") from exc
    return value


def looks_like_secret(value: str) -> bool:
    """Whether a ``*_env`` value looks like a pasted secret rather than a variable's name.

    Variable names are short words in capitals (``DONORBOT_DISCORD_TOKEN``); tokens and keys
    are long runs of mixed letters and digits, or hold characters no name has.
    """
    if not _ENV_NAME.match(value):
        return True
    mixed = (
        any(c.islower() for c in value)
        and any(c.isupper() for c in value)
        and any(c.isdigit() for c in value)
    )
    return len(value) > 64 or (len(value) >= 20 and (mixed or sum(c.isdigit() for c in value) >= 8))


def _env_name(value: str) -> str:
    # Never echo the value: what was pasted here may be the secret itself.
    if looks_like_secret(value):
        raise ValueError(
            "this looks like a secret, not a variable name: put the secret in an environment variable"
            " and give that variable's name here (e.g. DONORBOT_DISCORD_TOKEN)"
        )
    return value


def _slug(value: str) -> str:
    if not _SLUG.match(value):
        raise ValueError(f"{value!r} must be lower-case letters, digits, - or _ (at most 64)")
    return value


def _url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value


def _path(value: Path) -> Path:
    if "\x00" in str(value):
        raise ValueError("a path cannot hold a NUL character")
    return value


TimeZoneName = Annotated[str, AfterValidator(_timezone)]
SafePath = Annotated[Path, Field(strict=False), AfterValidator(_path)]
LocaleName = Annotated[str, AfterValidator(_locale)]
CurrencyCode = Annotated[str, AfterValidator(_currency)]
CronExpr = Annotated[str, AfterValidator(_cron)]
EnvName = Annotated[str, AfterValidator(_env_name)]
Slug = Annotated[str, AfterValidator(_slug)]
Url = Annotated[str, AfterValidator(_url)]
PositiveAmount = Annotated[Decimal, Field(gt=0, strict=False)]


class Section(BaseModel):
    # strict: a string is not a port, 1 is not true; paths and amounts are converted below.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# --- sections ------------------------------------------------------------------------------


class ProjectSettings(Section):
    name: str = Field(min_length=1)
    timezone: TimeZoneName = "UTC"
    locale: LocaleName = "en"
    base_currency: CurrencyCode = "EUR"
    donate_urls: list[Url] = []
    rates: dict[CurrencyCode, PositiveAmount] = {}
    data_dir: SafePath = Path("data")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class LoggingSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


def _file_path(value: Path) -> Path:
    # "" and "." are the data folder itself: the ledger would take the folder's name.
    if value.name in ("", ".", ".."):
        raise ValueError(f"{str(value)!r} is a folder, not a file name (e.g. donorbot.sqlite3)")
    return value


class LedgerSettings(Section):
    path: Annotated[Path, Field(strict=False), AfterValidator(_path), AfterValidator(_file_path)] = Path(
        "donorbot.sqlite3"
    )
    pseudonym_key_env: EnvName = "DONORBOT_PSEUDONYM_KEY"


class MilestoneSettings(Section):
    monthly_donors: list[Annotated[int, Field(gt=0)]] = [100, 250, 500, 1000, 2500, 5000, 10000]
    total_donors: list[Annotated[int, Field(gt=0)]] = [
        100, 500, 1000, 5000, 10000, 50000, 100000, 500000, 1000000,
    ]  # fmt: skip
    total_amount: list[PositiveAmount] = [
        Decimal(n) for n in (1000, 10000, 50000, 100000, 500000, 1000000, 10000000)
    ]


class Goal(Section):
    name: Slug
    title: str = Field(min_length=1)
    amount: PositiveAmount | None = None
    donors: Annotated[int, Field(gt=0)] | None = None
    start: date
    end: date

    @model_validator(mode="after")
    def _check(self) -> Goal:
        if self.amount is None and self.donors is None:
            raise ValueError("a goal needs amount, donors, or both")
        if self.end < self.start:
            raise ValueError(f"end: {self.end} is before start ({self.start})")
        return self


class NewsSettings(Section):
    dir: SafePath = Path("news")
    templates_dir: SafePath | None = None
    named_donors_shown: Annotated[int, Field(ge=0, le=10000)] = 200


class ScheduleSettings(Section):
    cron: CronExpr = DEFAULT_CRON
    catch_up_days: Annotated[int, Field(ge=0, le=31)] = 7


class WebhookSecret(Section):
    secret_env: EnvName


class StripeHook(WebhookSecret):
    tolerance_seconds: Annotated[int, Field(gt=0, le=3600)] = 300


class DonorboxHook(WebhookSecret):
    tolerance_seconds: Annotated[int, Field(gt=0, le=3600)] = 300


class PatreonHook(WebhookSecret):
    currency: CurrencyCode = "USD"  # Patreon's member amounts carry no currency: the campaign's


class HelloAssoHook(Section):
    signature_key_env: EnvName | None = None
    path_secret_env: EnvName | None = None

    @model_validator(mode="after")
    def _check(self) -> HelloAssoHook:
        if self.signature_key_env is None and self.path_secret_env is None:
            raise ValueError("set signature_key_env or path_secret_env (or both)")
        return self


class WebhookSettings(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    max_body_bytes: Annotated[int, Field(gt=0)] = 1024 * 1024
    header_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 10.0
    body_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    max_connections: Annotated[int, Field(ge=1, le=100_000)] = 200
    kofi: WebhookSecret | None = None
    github_sponsors: WebhookSecret | None = None
    stripe: StripeHook | None = None
    opencollective: WebhookSecret | None = None
    patreon: PatreonHook | None = None
    donorbox: DonorboxHook | None = None
    buymeacoffee: WebhookSecret | None = None
    helloasso: HelloAssoHook | None = None


# --- pull sources (donorbot sync) ------------------------------------------------------------


def _api_url(value: str) -> str:
    return _url(value).rstrip("/")


def _oc_slug(value: str) -> str:
    # As in opencollective.com/SLUG: lower-case letters, digits and dashes.
    if not re.match(r"^[a-z0-9][a-z0-9-]{0,254}$", value):
        raise ValueError(f"{value[:80]!r} is not an Open Collective slug (as in opencollective.com/SLUG)")
    return value


def _github_login(value: str) -> str:
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$", value):
        raise ValueError(f"{value[:80]!r} is not a GitHub login (letters, digits and -, at most 39)")
    return value


ApiUrl = Annotated[str, AfterValidator(_api_url)]


class PullSource(Section):
    # Minutes between two syncs in `donorbot run`; fractions allowed (0.5: every 30 seconds).
    interval_minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60)] = 60
    since: date | None = None  # the first sync starts here (default: everything the API has)


class OpenCollectiveSource(PullSource):
    slug: Annotated[str, AfterValidator(_oc_slug)]
    token_env: EnvName | None = None  # public collectives need none
    api_url: ApiUrl = "https://api.opencollective.com/graphql/v2"


class StripeSource(PullSource):
    secret_key_env: EnvName
    api_base: ApiUrl = "https://api.stripe.com"


class GitHubSponsorsSource(PullSource):
    token_env: EnvName
    login: Annotated[str, AfterValidator(_github_login)] | None = None  # None: the token's own account
    api_url: ApiUrl = "https://api.github.com/graphql"


class SourcesSettings(Section):
    opencollective: OpenCollectiveSource | None = None
    stripe: StripeSource | None = None
    github_sponsors: GitHubSponsorsSource | None = None

    def configured(self) -> dict[str, OpenCollectiveSource | StripeSource | GitHubSponsorsSource]:
        """The sources present in the file, by their key."""
        found = {"opencollective": self.opencollective, "stripe": self.stripe,
                 "github_sponsors": self.github_sponsors}  # fmt: skip
        return {key: value for key, value in found.items() if value is not None}


class MatrixSettings(Section):
    homeserver: Url
    user_id: Annotated[str, Field(pattern=r"^@[^:\s]+:\S+$")]
    access_token_env: EnvName | None = None
    password_env: EnvName | None = None
    device_name: str = "donorbot"
    admin_power_level: int = 50
    admins: list[Annotated[str, Field(pattern=r"^@[^:\s]+:\S+$")]] = []
    invite_allowlist: list[Annotated[str, Field(pattern=r"^@[^:\s]+:\S+$")]] = []
    encryption: bool = True

    @model_validator(mode="after")
    def _check(self) -> MatrixSettings:
        if self.access_token_env is None and self.password_env is None:
            raise ValueError("set access_token_env or password_env")
        return self


class DiscordSettings(Section):
    token_env: EnvName = "DONORBOT_DISCORD_TOKEN"
    api_base: Url = "https://discord.com/api/v10"
    gateway_url: str | None = None  # None: asked from the REST API (GET /gateway/bot)
    guilds: list[Annotated[int, Field(gt=0)]] = []
    admin_role: Annotated[int, Field(gt=0)] | None = None

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("gateway_url")
    @classmethod
    def _gateway_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^wss?://[^\s/]+", value):
            raise ValueError(f"{value!r} is not a ws(s) URL (e.g. wss://gateway.discord.gg)")
        return value


class TargetBase(Section):
    name: Slug
    locale: LocaleName | None = None
    cron: CronExpr | None = None
    enabled: bool = True
    alerts: bool = False
    thanks: bool = False


class ConsoleTarget(TargetBase):
    platform: Literal["console"]
    output_dir: SafePath | None = None
    # "text": what a reader sees (the Markdown rendered to plain text); "markdown": the source
    # a chat would receive, escapes included (to paste it somewhere else).
    format: Literal["text", "markdown"] = "text"


class MatrixTarget(TargetBase):
    platform: Literal["matrix"]
    # Room ids of version 12 rooms have no ":server" part (!<hash>); aliases always do.
    room: Annotated[str, Field(pattern=r"^[!#][^:\s]+(:\S+)?$")]
    msgtype: Literal["m.notice", "m.text"] = "m.notice"

    @field_validator("room")
    @classmethod
    def _alias_has_server(cls, value: str) -> str:
        if value.startswith("#") and ":" not in value:
            raise ValueError(f"{value!r} is not a room alias (#name:server)")
        return value


class DiscordTarget(TargetBase):
    platform: Literal["discord"]
    channel_id: Annotated[int, Field(gt=0)]
    mention_role: Annotated[int, Field(gt=0)] | None = None  # the only mention a post may make
    publish: bool = False  # crosspost when the channel is an announcement channel


# A channel webhook's URL, as Discord shows it under Integrations > Webhooks > Copy Webhook URL.
WEBHOOK_URL = re.compile(r"https?://[^/\s]+(/api(/v\d+)?)?/webhooks/(\d{1,20})/([\w.-]{1,200})")


class DiscordWebhookTarget(TargetBase):
    """A Discord channel reached through its webhook: no bot account (as MonitoRSS setups do)."""

    platform: Literal["discord-webhook"]
    url_env: EnvName  # the variable holding https://discord.com/api/webhooks/<id>/<token>
    mention_role: Annotated[int, Field(gt=0)] | None = None
    # A forum (or media) channel's webhook: each bulletin opens a post named by its title.
    forum: bool = False
    # Or every bulletin goes into this existing thread of the webhook's channel.
    thread_id: Annotated[int, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _one_place(self) -> DiscordWebhookTarget:
        if self.forum and self.thread_id is not None:
            raise ValueError("forum and thread_id cannot both be set: a forum post, or an existing thread")
        return self


Target = Annotated[
    ConsoleTarget | MatrixTarget | DiscordTarget | DiscordWebhookTarget, Field(discriminator="platform")
]


class Config(Section):
    project: ProjectSettings
    logging: LoggingSettings = LoggingSettings()
    ledger: LedgerSettings = LedgerSettings()
    milestones: MilestoneSettings = MilestoneSettings()
    goals: list[Goal] = []
    news: NewsSettings = NewsSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    webhooks: WebhookSettings = WebhookSettings()
    sources: SourcesSettings = SourcesSettings()
    matrix: MatrixSettings | None = None
    discord: DiscordSettings | None = None
    targets: list[Target] = []

    # Not from the file: where it was read from, so relative paths resolve next to it, and
    # its text, so that problems found later (a secret not set) can name their line too.
    source: Path = Field(default=Path("config.toml"), exclude=True)
    source_text: str = Field(default="", exclude=True, repr=False)

    @field_validator("targets")
    @classmethod
    def _unique_targets(cls, targets: list[Any]) -> list[Any]:
        names = [t.name for t in targets]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"targets[{i}].name: two targets are named {name!r}")
        return targets

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        for i, target in enumerate(self.targets):
            if target.platform == "matrix" and self.matrix is None:
                raise ValueError(
                    f"targets[{i}].platform: {target.name} is a Matrix target but [matrix] is missing"
                )
            if target.platform == "discord" and self.discord is None:
                raise ValueError(
                    f"targets[{i}].platform: {target.name} is a Discord target but [discord] is missing"
                )
        names = [g.name for g in self.goals]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ValueError(f"goals[{i}].name: two goals are named {name!r}")
        if self.project.base_currency in self.project.rates:
            base = self.project.base_currency
            raise ValueError(f"project.rates.{base}: {base} is the base currency; it needs no rate")
        # A console target's folder, like every path in the file, is relative to the file's folder
        # (not to wherever donorbot was started). Frozen model: set once, while validating.
        targets = [
            t.model_copy(update={"output_dir": self.resolve(t.output_dir)})
            if isinstance(t, ConsoleTarget) and t.output_dir is not None
            else t
            for t in self.targets
        ]
        object.__setattr__(self, "targets", targets)
        return self

    # --- derived values -------------------------------------------------------------------

    @property
    def base_dir(self) -> Path:
        return self.source.parent

    def resolve(self, path: Path) -> Path:
        """A path from the file, relative to the file's folder."""
        return path if path.is_absolute() else (self.base_dir / path)

    @property
    def data_dir(self) -> Path:
        return self.resolve(self.project.data_dir)

    @property
    def ledger_path(self) -> Path:
        path = self.ledger.path
        return path if path.is_absolute() else self.data_dir / path

    @property
    def news_dir(self) -> Path:
        return self.resolve(self.news.dir)

    @property
    def templates_dir(self) -> Path | None:
        if self.news.templates_dir is None:
            return None
        return self.resolve(self.news.templates_dir)

    def target(self, name: str) -> ConsoleTarget | MatrixTarget | DiscordTarget | DiscordWebhookTarget:
        for target in self.targets:
            if target.name == name:
                return target
        known = ", ".join(t.name for t in self.targets) or "none"
        raise KeyError(f"no target named {name!r} (configured: {known})")

    def locale_notes(self) -> list[str]:
        """``key: note`` for each locale whose texts come from another catalogue (fr_CA -> fr)."""
        from bot.i18n import resolve

        places = [("project.locale", self.project.locale)] + [
            (f"targets[{i}].locale", t.locale) for i, t in enumerate(self.targets) if t.locale
        ]
        return [f"{key}: {note}" for key, value in places if (note := resolve(value).note)]

    def locale_of(self, target: TargetBase | None) -> str:
        return (target.locale if target and target.locale else None) or self.project.locale

    @staticmethod
    def secret(env_name: str | None) -> SecretStr | None:
        """The secret held by environment variable ``env_name``, if set and not empty."""
        if not env_name:
            return None
        value = os.environ.get(env_name, "")
        return SecretStr(value) if value else None

    def where(self, *key: int | str) -> str:
        """``FILE:LINE`` of a key (``FILE`` alone when its line is not found)."""
        line = _locate(self.source_text, key) if self.source_text else None
        return f"{self.source}:{line}" if line else str(self.source)

    def _secret_problem(self, key: tuple[int | str, ...], env: str | None) -> str | None:
        if not env:
            return None
        value = os.environ.get(env)
        if value:
            return None
        state = "is set but empty" if value is not None else "is not set"
        return f"{self.where(*key)}: {_dotted(key)}: environment variable {env} {state}"

    def missing_secrets(self) -> list[str]:
        """``FILE:LINE: key: problem`` for each secret that a command would refuse to run without.

        Only what is in use counts: a platform's token when an enabled target posts there
        (a disabled target needs no secret). Webhook secrets are :meth:`secret_warnings`:
        without one, ``run`` serves the other routes and leaves that one off.
        """
        problems: list[str | None] = [
            self._secret_problem(("ledger", "pseudonym_key_env"), self.ledger.pseudonym_key_env)
        ]
        used = {t.platform for t in self.targets if t.enabled}
        if self.matrix is not None and "matrix" in used:
            if self.matrix.access_token_env:
                problems.append(
                    self._secret_problem(("matrix", "access_token_env"), self.matrix.access_token_env)
                )
            else:
                problems.append(self._secret_problem(("matrix", "password_env"), self.matrix.password_env))
        if self.discord is not None and "discord" in used:
            problems.append(self._secret_problem(("discord", "token_env"), self.discord.token_env))
        for i, target in enumerate(self.targets):
            if isinstance(target, DiscordWebhookTarget) and target.enabled:
                problem = self._secret_problem(("targets", i, "url_env"), target.url_env)
                if problem is None and not WEBHOOK_URL.fullmatch(os.environ[target.url_env].strip()):
                    problem = (
                        f"{self.where('targets', i, 'url_env')}: targets[{i}].url_env: {target.url_env} is not "
                        "a Discord webhook URL (https://discord.com/api/webhooks/<id>/<token>)"
                    )
                problems.append(problem)
        return [p for p in problems if p] + self.source_token_problems()

    def secret_warnings(self) -> list[str]:
        """Webhook routes left off for want of their secret (``run`` logs the same)."""
        hooks = self.webhooks
        if not hooks.enabled:
            return []
        warnings: list[str | None] = []
        for name in ("kofi", "github_sponsors", "stripe", "opencollective", "patreon",
                     "donorbox", "buymeacoffee"):  # fmt: skip
            hook = getattr(hooks, name)
            if hook is not None:
                warnings.append(self._secret_problem(("webhooks", name, "secret_env"), hook.secret_env))
        if hooks.helloasso is not None:
            for key in ("signature_key_env", "path_secret_env"):
                env = getattr(hooks.helloasso, key)
                warnings.append(self._secret_problem(("webhooks", "helloasso", key), env))
        return [f"{w}; its route is off" for w in warnings if w]

    def source_token_problems(self) -> list[str]:
        """``FILE:LINE: key: problem`` for the pull sources' tokens: unset, or plainly not a token."""
        problems: list[str] = []
        sources = self.sources
        named: list[tuple[tuple[str, str, str], str | None]] = []  # (key, variable)
        if sources.opencollective is not None:
            named.append((("sources", "opencollective", "token_env"), sources.opencollective.token_env))
        if sources.stripe is not None:
            named.append((("sources", "stripe", "secret_key_env"), sources.stripe.secret_key_env))
        if sources.github_sponsors is not None:
            named.append((("sources", "github_sponsors", "token_env"), sources.github_sponsors.token_env))
        for key, env in named:
            if not env:
                continue
            missing = self._secret_problem(key, env)
            if missing:
                problems.append(missing)
                continue
            value = os.environ.get(env, "")
            where = f"{self.where(*key)}: {_dotted(key)}"
            if value != value.strip() or any(c.isspace() for c in value):
                problems.append(f"{where}: the token in {env} contains spaces or a line break")
            elif key[1] == "stripe" and value.startswith("pk_"):
                problems.append(
                    f"{where}: {env} holds a publishable key (pk_...); a sync needs a secret or "
                    "restricted key (sk_... or rk_...)"
                )
        return problems


# --- loading -------------------------------------------------------------------------------


def default_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--config`` if given, else ``$DONORBOT_CONFIG``, else ``./config.toml``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("DONORBOT_CONFIG")
    return Path(env) if env else Path("config.toml")


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the configuration file; raise ConfigError listing every problem."""
    file = default_config_path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{file}: no such file (give --config PATH or set DONORBOT_CONFIG)"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{file}: cannot read: {exc}"]) from None
    return parse_config(text, file)


def parse_config(text: str, file: Path) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib says "... (at line 3, column 7)"; put the place first, like every other error.
        message = str(exc)
        match = re.search(r"\(at line (\d+), column (\d+)\)", message)
        if match:
            message = message[: match.start()].strip()
            raise ConfigError([f"{file}:{match.group(1)}: TOML syntax: {message}"]) from None
        raise ConfigError([f"{file}: TOML syntax: {message}"]) from None
    for reserved in ("source", "source_text"):
        if reserved in data:
            raise ConfigError([f"{file}:{_locate(text, (reserved,)) or 1}: {reserved}: unknown key"])
    try:
        return Config.model_validate({**data, "source": file.resolve(), "source_text": text})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, text, file, data)) from None


def _describe(exc: ValidationError, text: str, file: Path, data: dict[str, Any]) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = _clean_loc(error["loc"], data)
        message = _message(error)
        # A check over several keys names the key it is about first: "targets[1].name: ...".
        named = _NAMED.match(message) if error["type"] == "value_error" else None
        if named:
            path = tuple(int(p) if p.isdigit() else p for p in re.findall(r"[^.\[\]]+", named.group(1)))
            loc = path if not loc or path[0] == loc[0] else (*loc, *path)
            message = named.group(2)
        if error["type"] == "union_tag_not_found":
            # A target without `platform` is most often one whose `platform` is misspelt.
            unknown = _unknown_target_keys(error.get("input"))
            if unknown:
                loc, message = (*loc, unknown[0]), _unknown_key_message(unknown[0], _TARGET_KEYS)
        key = _dotted(loc) or "(top level)"
        if any(isinstance(part, str) and part.endswith("_env") for part in loc):
            message = message.split(" (got ")[0]  # the value of a *_env key may be a pasted secret
        line = _locate(text, _key_of(loc, data))
        where = f"{file}:{line}" if line else str(file)
        problems.append(f"{where}: {key}: {message}")
    return problems


def _target_keys() -> set[str]:
    keys: set[str] = set()
    for model in (ConsoleTarget, MatrixTarget, DiscordTarget):
        keys |= set(model.model_fields)
    return keys


_TARGET_KEYS = _target_keys()


def _unknown_target_keys(table: object) -> list[str]:
    if not isinstance(table, dict):
        return []
    return [key for key in table if key not in _TARGET_KEYS]


def _unknown_key_message(key: str, known: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1)
    hint = f"did you mean {close[0]!r}?" if close else "config.example.toml lists every key"
    return f"unknown key ({hint})"


def _clean_loc(loc: tuple[int | str, ...], data: dict[str, Any]) -> tuple[int | str, ...]:
    """Drop pydantic's union tags (``targets.0.matrix.room`` -> ``targets.0.room``)."""
    cleaned: list[int | str] = []
    node: Any = data
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part not in node and part in (
            "console", "matrix", "discord", "function-after[_check(), Goal]",
        ):  # fmt: skip
            continue
        if isinstance(part, str) and (part.startswith("function-after") or part == "[key]"):
            continue
        cleaned.append(part)
        if isinstance(node, dict):
            node = node.get(part) if isinstance(part, str) else None
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(cleaned)


_NAMED = re.compile(r"^([a-z_]+(?:\[\d+\])?(?:\.[A-Za-z_]+(?:\[\d+\])?)*): (.+)$", re.DOTALL)


def _key_of(loc: tuple[int | str, ...], data: dict[str, Any]) -> tuple[int | str, ...]:
    """The key path up to a value's line: an item of an inline list is on its key's line."""
    node: Any = data
    for i, part in enumerate(loc):
        if isinstance(part, int) and isinstance(node, list):
            if not (part < len(node) and isinstance(node[part], dict)):
                return loc[:i]
            node = node[part]
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return loc[:i]
    return loc


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; config.example.toml lists every key)"
    if kind == "missing":
        return "required key is missing"
    if kind in ("int_type", "bool_type", "float_type") and isinstance(error.get("input"), str):
        what = {"bool_type": "true or false", "int_type": "an integer"}.get(kind, "a number")
        return f"must be {what}, without quotes (got the string {error['input']!r})"
    if kind == "union_tag_invalid":
        return "platform must be one of console, matrix, discord"
    if kind == "union_tag_not_found":
        return "platform is missing (console, matrix or discord)"
    if kind == "string_pattern_mismatch":
        pattern = str(error.get("ctx", {}).get("pattern", ""))
        if pattern.startswith("^[!#]"):
            return f"{error['input']!r} is not a room id (!abc:server) or alias (#name:server)"
        if pattern.startswith("^@"):
            return f"{error['input']!r} is not a Matrix user id (@name:server)"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if "input" in error and kind not in ("value_error",) and not isinstance(error["input"], dict):
        message += f" (got {error['input']!r})"
    return message


_HEADER = re.compile(r"^\s*\[(\[)?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def _locate(text: str, loc: tuple[int | str, ...]) -> int | None:
    """Best-effort line number for a key path in the TOML text (None when not found)."""
    if not loc:
        return None
    lines = text.splitlines()
    # Walk the table headers, tracking which table (and which array element) we are in.
    wanted_table: list[str] = []
    wanted_index: int | None = None
    key_path: list[str] = []
    for i, part in enumerate(loc):
        if isinstance(part, int):
            wanted_index = part
            key_path = [str(p) for p in loc[i + 1 :] if isinstance(p, str)]
            break
        wanted_table.append(part)
    else:
        key_path = []
    candidates: list[tuple[int, list[str], int | None]] = []  # (line, table, array index)
    counts: dict[str, int] = {}
    current: list[str] = []
    current_index: int | None = None
    for number, line in enumerate(lines, start=1):
        header = _HEADER.match(line)
        if header:
            current = [p.strip().strip('"') for p in header.group(2).split(".")]
            if header.group(1):
                name = ".".join(current)
                current_index = counts.get(name, 0)
                counts[name] = current_index + 1
            else:
                current_index = None
            candidates.append((number, current, current_index))
            continue
        candidates.append((number, current, current_index))

    def key_line(table: list[str], index: int | None, keys: list[str]) -> int | None:
        header_line = None
        for number, tab, idx in candidates:
            if tab == table and idx == index:
                if header_line is None:
                    header_line = number
                if keys:
                    stripped = lines[number - 1].strip()
                    if re.match(rf"^{re.escape(keys[0])}\s*=", stripped):
                        return number
        if keys and len(keys) > 1:
            return key_line([*table, keys[0]], index, keys[1:]) or header_line
        return header_line

    if wanted_index is not None:
        return key_line(wanted_table, wanted_index, key_path)
    # Plain table path: try the longest table prefix that exists with the rest as keys.
    for split in range(len(wanted_table), -1, -1):
        table, keys = wanted_table[:split], wanted_table[split:]
        if not keys:
            continue
        found = key_line(table, None, keys)
        if found:
            return found
    return key_line(wanted_table, None, [])
