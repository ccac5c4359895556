"""Long bulletins on Matrix: a headline event and its chart, the long parts in a thread, all under the size limit.

Against the real Synapse, with the demo ledger where every named donor left a
long message (over 100 KB of bulletin a month): every event is accepted, the
human's client decrypts every one of them in an encrypted room, and together
they hold the whole bulletin.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from bot.announcements import BULLETIN, message_for
from bot.chat.layout import shape
from bot.chat.matrix import open_sender
from bot.chat.matrix.size import EVENT_LIMIT
from bot.chat.message import Message
from bot.chat.sender import MemoryParts
from bot.config import Config, MatrixTarget
from bot.core import Core
from bot.demo import DEMO_KEY
from bot.months import Month
from tests.crowd_support import LONG_MESSAGES
from tests.synapse.fixtures import KEY_ENV, MatrixWorld, People, write_config
from tests.synapse.people import Person

pytest_plugins = ["tests.synapse.fixtures"]

NOVEMBER, DECEMBER = Month(2025, 11), Month(2025, 12)


def with_ledger(config: Config, ledger: Path) -> Config:
    config.ledger_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ledger, config.ledger_path)
    return config


async def bulletin_of(config: Config, month: Month) -> Message:
    core = await Core.open(config)
    try:
        return await message_for(core, BULLETIN, month, "en")
    finally:
        await core.close()


def stored_size(world: MatrixWorld, room: str, event_id: str) -> int:
    """The event as the homeserver serves it, in canonical JSON bytes (what its limit counts)."""
    event = world.server.request(
        "GET", f"/_matrix/client/v3/rooms/{room}/event/{event_id}", token=world.admin.access_token
    )
    event.pop("unsigned", None)
    return len(json.dumps(event, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode())


def check_delivery(posted: list[dict[str, Any]], message: Message) -> None:
    """One headline, its chart, then follow-ups threaded on the headline, with the whole bulletin."""
    root, chart, *follow = posted
    thread = [e for e in follow if e["msgtype"] != "m.file"]
    files = [e for e in follow if e["msgtype"] == "m.file"]
    assert follow[len(thread) :] == files, "attachments (the full list of names) come last"
    assert root["body"].startswith(message.title), "the headline comes first"
    assert "m.relates_to" not in root
    assert chart["msgtype"] == "m.image"
    assert thread, "the long parts are follow-ups"
    previous = root["event_id"]
    for event in follow:
        relation = event["m.relates_to"]
        assert relation["rel_type"] == "m.thread" and relation["event_id"] == root["event_id"]
        assert relation["m.in_reply_to"] == {"event_id": previous}, "old clients see a chain of replies"
        previous = event["event_id"]
    bodies = "\n".join(e["body"] for e in [root, *thread])
    html = "\n".join(e["formatted_body"] for e in [root, *thread])
    # The whole plain text of the bulletin arrives, nothing dropped: every line of it is there.
    for line in message.text.splitlines():
        assert line.strip() in bodies, f"missing from the events: {line!r}"
    assert not bodies.startswith("#") and "\\*" not in bodies, "body is plain text, not Markdown source"
    assert "**Milestone" not in bodies
    assert "<script" not in html and "<b>really</b>" not in html
    assert bodies.count(LONG_MESSAGES[1][:40]) >= 40, "the long messages arrive"


async def test_the_crowd_bulletin_is_too_big_for_one_event_and_cut_by_sections(
    tmp_path: Path, matrix_world: MatrixWorld, crowd_ledger: Path
) -> None:
    config = with_ledger(write_config(tmp_path / "config.toml", matrix_world, {"news": "!x:y"}), crowd_ledger)
    message = await bulletin_of(config, DECEMBER)

    assert len(message.markdown.encode()) > EVENT_LIMIT, "the test is about bulletins too big for one event"
    headline, rest = shape(message)
    assert headline.markdown.startswith("# Donor Friends")
    assert [p.markdown.split("\n", 1)[0] for p in rest] == ["## Sponsors", "## Donations"]
    assert len(headline.markdown) <= 1800


async def post_and_read(
    tmp_path: Path, world: MatrixWorld, alice: Person, room: str, message: Message, key: str
) -> tuple[list[str], list[dict[str, Any]]]:
    config = write_config(tmp_path / "config.toml", world, {"news": room})
    sender = await open_sender(config)
    try:
        target = config.targets[0]
        assert isinstance(target, MatrixTarget)
        ids = await sender.send(target, message, key, MemoryParts())
    finally:
        await sender.close()
    posted = [p for p in await alice.messages_from(room, world.bot.user_id) if p["event_id"] in ids]
    return ids, posted


async def test_a_crowd_bulletin_reaches_a_plain_room_whole(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, crowd_ledger: Path
) -> None:
    alice = await people(matrix_world.admin)
    room = await alice.create_room(invite=(matrix_world.bot.user_id,))
    config = with_ledger(write_config(tmp_path / "config.toml", matrix_world, {"news": room}), crowd_ledger)
    message = await bulletin_of(config, DECEMBER)

    ids, posted = await post_and_read(
        tmp_path, matrix_world, alice, room, message, "donorbot.bulletin.news.x.0"
    )

    assert [p["event_id"] for p in posted] == ids
    check_delivery(posted, message)
    sizes = [stored_size(matrix_world, room, e) for e in ids]
    assert max(sizes) < EVENT_LIMIT
    assert len(ids) <= 8, f"packed, not one event per paragraph: {sizes}"


async def test_a_crowd_bulletin_reaches_an_encrypted_room_and_every_event_decrypts(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, crowd_ledger: Path
) -> None:
    alice = await people(matrix_world.admin)
    room = await alice.create_room(invite=(matrix_world.bot.user_id,), encrypted=True)
    config = with_ledger(write_config(tmp_path / "config.toml", matrix_world, {"news": room}), crowd_ledger)
    message = await bulletin_of(config, DECEMBER)

    ids, posted = await post_and_read(
        tmp_path, matrix_world, alice, room, message, "donorbot.bulletin.news.x.0"
    )

    assert [p["event_id"] for p in posted] == ids
    assert all(p["decrypted"] for p in posted), "the human's client decrypted every event"
    check_delivery(posted, message)
    sizes = [stored_size(matrix_world, room, e) for e in ids]
    assert max(sizes) < EVENT_LIMIT, sizes
    # The budget is not wasted: the biggest ciphertext event is close to the limit.
    assert max(sizes) > EVENT_LIMIT * 0.8, sizes


async def test_a_resend_posts_only_what_is_missing_and_does_not_upload_the_chart_again(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, crowd_ledger: Path
) -> None:
    alice = await people(matrix_world.admin)
    room = await alice.create_room(invite=(matrix_world.bot.user_id,))
    config = with_ledger(write_config(tmp_path / "config.toml", matrix_world, {"news": room}), crowd_ledger)
    message = await bulletin_of(config, DECEMBER)
    target = config.targets[0]
    assert isinstance(target, MatrixTarget)
    parts = MemoryParts()

    sender = await open_sender(config)
    try:
        first = await sender.send(target, message, "donorbot.bulletin.news.y.0", parts)
        # A crash after the chart and one follow-up: the outbox knows those parts.
        kept = {k: v for k, v in parts.done.items() if k in ("text", "upload", "image", "thread.0")}
        calls: list[str] = []
        upload = sender.client.upload

        async def counting_upload(*args: Any, **kwargs: Any) -> Any:
            calls.append(str(kwargs.get("filename")))
            return await upload(*args, **kwargs)

        sender.client.upload = counting_upload  # type: ignore[method-assign]
        again = await sender.send(target, message, "donorbot.bulletin.news.y.0", MemoryParts(kept))
    finally:
        await sender.close()

    assert again == first, "the same events: the rest was deduplicated by transaction id"
    assert message.image is not None and message.image.filename not in calls, (
        "the chart was not uploaded again"
    )
    assert calls == [a.filename for a in message.attachments], "only what was not posted yet"
    posted = await alice.messages_from(room, matrix_world.bot.user_id)
    assert [p["event_id"] for p in posted] == first


async def donorbot(config: Config, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, KEY_ENV: DEMO_KEY}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(config.source), *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 180)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_donorbot_post_delivers_two_crowd_months_whole_to_a_plain_and_an_encrypted_room(
    tmp_path: Path, matrix_world: MatrixWorld, people: People, crowd_ledger: Path
) -> None:
    alice = await people(matrix_world.admin)
    plain = await alice.create_room(invite=(matrix_world.bot.user_id,))
    secret = await alice.create_room(invite=(matrix_world.bot.user_id,), encrypted=True)
    config = with_ledger(
        write_config(tmp_path / "config.toml", matrix_world, {"plain": plain, "secret": secret}), crowd_ledger
    )
    bot = matrix_world.bot.user_id

    for month in (NOVEMBER, DECEMBER):
        code, out, err = await donorbot(config, "post", "--month", str(month))
        assert code == 0, out + err
        assert f"{month} -> plain: sent" in out and f"{month} -> secret: sent" in out, out

    for room in (plain, secret):
        posted = await alice.messages_from(room, bot)
        assert all(p["decrypted"] for p in posted) or room == plain
        roots = [i for i, p in enumerate(posted) if "m.relates_to" not in p and p["msgtype"] != "m.image"]
        assert len(roots) == 2, "one headline per month"
        for month, (start, end) in zip(
            (NOVEMBER, DECEMBER), zip(roots, [*roots[1:], len(posted)], strict=True), strict=True
        ):
            check_delivery(posted[start:end], await bulletin_of(config, month))
        assert max(stored_size(matrix_world, room, p["event_id"]) for p in posted) < EVENT_LIMIT


async def test_an_attachment_goes_along_as_an_m_file_in_the_thread_and_decrypts(
    tmp_path: Path, matrix_world: MatrixWorld, people: People
) -> None:
    from bot.chat.message import Attachment
    from bot.news.render import Renderer
    from tests.synapse.homeserver import download

    alice = await people(matrix_world.admin)
    room = await alice.create_room(invite=(matrix_world.bot.user_id,), encrypted=True)
    config = write_config(tmp_path / "config.toml", matrix_world, {"news": room})
    names = "\n".join(f"Person {n}" for n in range(500)).encode()
    listing = Attachment("donors-2025-12.txt", names, "text/plain", "Everyone who chose to be named")
    message = Renderer(config).message("# News\n\nHello.\n\n## Donations\n\nThank you all!", title="News")
    message = Message(
        **{**{f: getattr(message, f) for f in message.__dataclass_fields__}, "attachments": (listing,)}
    )

    ids, posted = await post_and_read(
        tmp_path, matrix_world, alice, room, message, "donorbot.bulletin.news.f.0"
    )

    root, file = posted  # a short message: all headline, then its file
    assert [root["event_id"], file["event_id"]] == ids
    assert file["msgtype"] == "m.file" and file["decrypted"]
    assert file["body"] == "Everyone who chose to be named" and file["filename"] == "donors-2025-12.txt"
    assert (
        file["m.relates_to"]["rel_type"] == "m.thread"
        and file["m.relates_to"]["event_id"] == root["event_id"]
    )
    assert "url" not in file and file["file"]["url"].startswith("mxc://"), "uploaded encrypted"
    assert download(matrix_world.server, file["file"]["url"], matrix_world.admin.access_token) != names
