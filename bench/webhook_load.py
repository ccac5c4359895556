"""Webhook load: ``donorbot serve`` as its own process, 200 deliveries a second on 127.0.0.1.

Sends, on an open-loop schedule (each request leaves at its time, whether or not the
earlier ones were answered), a mix of Ko-fi and GitHub Sponsors deliveries:

- valid: a new donation, correctly signed (200, stored);
- duplicate: an exact redelivery of an earlier valid one (200, stored once in all);
- badly signed: a wrong Ko-fi token, or a GitHub signature of the right length
  but the wrong value (401, nothing stored).

Then stops the server with SIGTERM and reads the ledger: every valid donation must be
there exactly once and no badly signed one at all. Prints the answers by kind,
latency percentiles, the rate achieved, and the server's RSS at start and end.
Nothing leaves 127.0.0.1. Exit status 1 when a check fails.

    python -m bench.webhook_load                  # 200/s for 60 s (12,000 deliveries)
    python -m bench.webhook_load --seconds 5      # a short try
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import random
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

__all__ = ["main"]

HOST = "127.0.0.1"
KEY = "bench-pseudonym-key-0123456789abcdef"
KOFI_TOKEN = "bench-kofi-verification-token"
GITHUB_SECRET = "bench-github-webhook-secret"
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Delivery:
    kind: str  # "valid", "duplicate", "bad"
    platform: str  # "kofi", "github"
    external_id: str
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Answer:
    delivery: Delivery
    status: int
    verdict: str  # the server's "status" field
    seconds: float
    late: float  # how long after its scheduled time the request left


@dataclass
class Plan:
    """What the run sends, and what the ledger must hold afterwards."""

    deliveries: list[Delivery] = field(default_factory=list)
    valid: dict[str, set[str]] = field(default_factory=lambda: {"kofi": set(), "github": set()})
    bad: dict[str, set[str]] = field(default_factory=lambda: {"kofi": set(), "github": set()})


def _kofi(external_id: str, token: str, donor: int) -> tuple[str, bytes, dict[str, str]]:
    payload = {
        "verification_token": token,
        "message_id": f"msg-{external_id}",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "type": "Donation",
        "is_public": donor % 3 != 0,
        "from_name": f"Supporter {donor}",
        "message": "Keep going!",
        "amount": f"{3 + donor % 20}.00",
        "email": f"supporter{donor}@example.com",
        "currency": "EUR",
        "is_subscription_payment": False,
        "kofi_transaction_id": external_id,
    }
    body = urllib.parse.urlencode({"data": json.dumps(payload)}).encode()
    return "/webhooks/kofi", body, {"Content-Type": "application/x-www-form-urlencoded"}


def _github(external_id: str, secret: str, donor: int, good: bool) -> tuple[str, bytes, dict[str, str]]:
    payload = {
        "action": "created",
        "sponsorship": {
            "node_id": external_id,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "privacy_level": "public" if donor % 2 else "private",
            "sponsor": {"login": f"sponsor{donor}", "id": donor, "type": "User", "name": f"Sponsor {donor}"},
            "tier": {"monthly_price_in_cents": 500 + 100 * (donor % 10), "is_one_time": False},
        },
    }
    body = json.dumps(payload).encode()
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not good:  # same length, last digit changed: only a constant-time compare of the value rejects it
        digest = digest[:-1] + ("0" if digest[-1] != "0" else "1")
    headers = {
        "Content-Type": "application/json",
        "X-GitHub-Event": "sponsorship",
        "X-GitHub-Delivery": f"delivery-{external_id}",
        "X-Hub-Signature-256": f"sha256={digest}",
    }
    return "/webhooks/github-sponsors", body, headers


def make_plan(count: int, seed: int, valid_share: float, duplicate_share: float) -> Plan:
    """``count`` deliveries in order; duplicates repeat a valid delivery sent earlier."""
    rng = random.Random(seed)
    plan = Plan()
    sent_valid: list[Delivery] = []
    for number in range(count):
        platform = "kofi" if number % 2 == 0 else "github"
        draw = rng.random()
        donor = rng.randrange(2000)
        if draw < duplicate_share and sent_valid:
            original = rng.choice(sent_valid[-400:])  # a platform retries soon after
            plan.deliveries.append(Delivery("duplicate", *_fields(original)))
            continue
        if draw < duplicate_share + valid_share:
            external_id = f"{platform}-{number:07d}"
            if platform == "kofi":
                path, body, headers = _kofi(external_id, KOFI_TOKEN, donor)
            else:
                path, body, headers = _github(external_id, GITHUB_SECRET, donor, good=True)
            delivery = Delivery("valid", platform, external_id, path, body, headers)
            plan.valid[platform].add(external_id)
            sent_valid.append(delivery)
        else:
            external_id = f"bad-{platform}-{number:07d}"
            if platform == "kofi":
                path, body, headers = _kofi(external_id, "not-the-" + KOFI_TOKEN[8:], donor)
            else:
                path, body, headers = _github(external_id, GITHUB_SECRET, donor, good=False)
            delivery = Delivery("bad", platform, external_id, path, body, headers)
            plan.bad[platform].add(external_id)
        plan.deliveries.append(delivery)
    return plan


def _fields(d: Delivery) -> tuple[str, str, str, bytes, dict[str, str]]:
    return d.platform, d.external_id, d.path, d.body, d.headers


# --- the server -------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc (KiB)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (from /proc)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(folder: Path) -> tuple[subprocess.Popen[str], str]:
    config = folder / "config.toml"
    config.write_text(
        f'[project]\nname = "Load"\ntimezone = "UTC"\ndata_dir = "{folder}"\n'
        '[logging]\nlevel = "WARNING"\n'
        f'[webhooks]\nhost = "{HOST}"\nport = 0\n'
        '[webhooks.kofi]\nsecret_env = "BENCH_KOFI"\n'
        '[webhooks.github_sponsors]\nsecret_env = "BENCH_GITHUB"\n',
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "DONORBOT_PSEUDONYM_KEY": KEY,
        "BENCH_KOFI": KOFI_TOKEN,
        "BENCH_GITHUB": GITHUB_SECRET,
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(config), "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # rejected deliveries are logged as warnings: kept off the figures
        text=True,
        env=env,
        cwd=folder,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        match = re.match(r"listening on (http://\S+)", line)
        if match:
            return process, match.group(1)
    process.kill()
    raise SystemExit("donorbot serve did not start listening within 60 s")


def stop_server(process: subprocess.Popen[str]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


# --- the load ---------------------------------------------------------------------------------


async def send_all(base: str, plan: Plan, rate: float, pid: int) -> tuple[list[Answer], list[int], float]:
    """Send every delivery at ``start + i / rate``; sample the server's RSS each second."""
    answers: list[Answer] = []
    rss_samples: list[int] = []
    connector = aiohttp.TCPConnector(limit=256)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout) as session:

        async def one(delivery: Delivery, due: float) -> None:
            left = time.perf_counter()
            try:
                async with session.post(delivery.path, data=delivery.body, headers=delivery.headers) as reply:
                    verdict = str((await reply.json(content_type=None)).get("status", ""))
                    status = reply.status
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                status, verdict = 0, type(exc).__name__
            answers.append(Answer(delivery, status, verdict, time.perf_counter() - left, left - due))

        async def sample_rss(stop: asyncio.Event) -> None:
            while not stop.is_set():
                rss_samples.append(rss_kib(pid))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_rss(stop))
        tasks = []
        start = time.perf_counter()
        for number, delivery in enumerate(plan.deliveries):
            due = start + number / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(delivery, due)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
        stop.set()
        await sampler
    return answers, rss_samples, elapsed


def stored_ids(ledger: Path) -> dict[str, Counter[str]]:
    """source -> external id -> how many rows (exactly once means every count is 1)."""
    db = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True)
    try:
        out: dict[str, Counter[str]] = {"kofi": Counter(), "github": Counter()}
        for source, external_id in db.execute("SELECT source, external_id FROM donations"):
            out["kofi" if source == "kofi" else "github"][external_id] += 1
        return out
    finally:
        db.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def report(plan: Plan, answers: list[Answer], stored: dict[str, Counter[str]], elapsed: float) -> list[str]:
    """Print the figures; return the failed checks."""
    failures: list[str] = []
    expected = {"valid": {200}, "duplicate": {200}, "bad": {401}}
    by_kind: Counter[tuple[str, int, str]] = Counter((a.delivery.kind, a.status, a.verdict) for a in answers)
    print(f"deliveries: {len(answers)} in {elapsed:.1f} s ({len(answers) / elapsed:.0f}/s)")
    for (kind, status, verdict), count in sorted(by_kind.items()):
        print(f"  {kind:<9} -> {status} {verdict:<10} {count:>6}")
        if status not in expected[kind]:
            failures.append(f"{count} {kind} deliveries answered {status} {verdict}")
    times = [a.seconds * 1000 for a in answers]
    late = [a.late * 1000 for a in answers]
    p50, p95, p99 = (percentile(times, share) for share in (0.50, 0.95, 0.99))
    mean = statistics.fmean(times)
    print(f"latency ms: p50 {p50:.1f}  p95 {p95:.1f}  p99 {p99:.1f}  max {max(times):.1f}  (mean {mean:.1f})")
    print(f"send lateness ms (load generator behind schedule): p99 {percentile(late, 0.99):.1f}")
    for platform in ("kofi", "github"):
        ids = stored[platform]
        twice = [i for i, n in ids.items() if n > 1]
        missing = plan.valid[platform] - set(ids)
        extra = set(ids) - plan.valid[platform]
        leaked = plan.bad[platform] & set(ids)
        print(
            f"ledger {platform:<6}: {sum(ids.values())} rows for {len(plan.valid[platform])} valid donations;"
            f" missing {len(missing)}, twice {len(twice)}, badly signed stored {len(leaked)}"
        )
        if missing or twice or extra or leaked:
            failures.append(
                f"{platform}: missing {len(missing)}, twice {len(twice)}, unexpected {len(extra)}"
            )
    stored_answers = Counter(a.delivery.external_id for a in answers if a.verdict == "stored")
    if any(n > 1 for n in stored_answers.values()):
        failures.append("a donation was answered 'stored' twice")
    return failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to send (default 60)")
    parser.add_argument("--rate", type=float, default=200.0, help="deliveries per second (default 200)")
    parser.add_argument("--valid", type=float, default=0.6, help="share of new valid deliveries (0.6)")
    parser.add_argument("--duplicates", type=float, default=0.2, help="share of redeliveries (0.2)")
    parser.add_argument("--seed", type=int, default=20260101)
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 600 or not 0 < args.rate <= 2000:
        parser.error("--seconds must be in (0, 600] and --rate in (0, 2000]")
    if args.valid + args.duplicates > 1:
        parser.error("--valid plus --duplicates must be at most 1 (the rest is badly signed)")
    count = int(args.seconds * args.rate)
    plan = make_plan(count, args.seed, args.valid, args.duplicates)
    with tempfile.TemporaryDirectory(prefix="donorbot-load-") as tmp:
        folder = Path(tmp)
        process, base = start_server(folder)
        try:
            print(f"donorbot serve (pid {process.pid}) at {base}; {count} deliveries at {args.rate:.0f}/s")
            rss_start, cpu_start = rss_kib(process.pid), cpu_seconds(process.pid)
            answers, samples, elapsed = asyncio.run(send_all(base, plan, args.rate, process.pid))
            rss_end, cpu_used = rss_kib(process.pid), cpu_seconds(process.pid) - cpu_start
        finally:
            code = stop_server(process)
        print(
            f"server RSS MiB: start {rss_start / 1024:.1f}, end {rss_end / 1024:.1f},"
            f" peak {max(samples, default=rss_end) / 1024:.1f}; exit status {code}"
        )
        # One sample a second: every tenth shows whether memory keeps growing or levels off.
        trend = ", ".join(f"{kib / 1024:.1f}" for kib in samples[::10])
        print(f"server RSS MiB every 10 s: {trend}")
        load = os.getloadavg()[0]
        print(
            f"server CPU: {cpu_used:.1f} s in {elapsed:.1f} s ({100 * cpu_used / elapsed:.0f}% of a core);"
            f" machine load average {load:.1f} on {os.cpu_count()} cores"
        )
        failures = report(plan, answers, stored_ids(folder / "donorbot.sqlite3"), elapsed)
    if code != 0:
        failures.append(f"donorbot serve exited with {code} on SIGTERM")
    for failure in failures:
        print(f"FAILED: {failure}")
    print("all checks passed" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
