"""What leaves as plain text stays plain: Matrix's ``body`` and the JSON log lines."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from bot.chat.matrix.formatting import text_content
from bot.config import LoggingSettings, parse_config
from bot.logs import setup_logging
from bot.news.render import Md, Renderer


def test_a_matrix_body_is_plain_text_without_markdown_marks_or_escapes(tmp_path: Path) -> None:
    renderer = Renderer(parse_config('[project]\nname = "Petit Projet"\n', tmp_path / "config.toml"))
    markdown = Md("# Title\n\n**1,092** people gave. [Give](https://example.org/give)\n\n- Ana \\*star\\*")
    content = text_content(renderer.message(markdown))
    body = content["body"]
    assert "Title" in body and "1,092 people gave." in body and "Ana *star*" in body
    for mark in ("# ", "**", "](", "\\*"):
        assert mark not in body, (mark, body)
    assert "<strong>1,092</strong>" in content["formatted_body"]


def test_json_logs_are_one_object_per_line_with_level_logger_and_message() -> None:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    out = io.StringIO()
    try:
        setup_logging(LoggingSettings(level="INFO", format="json"), out)
        logging.getLogger("bot.app").info("ready: targets %s", "terminal (console)")
        logging.getLogger("bot.app").debug("not shown at INFO")
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "INFO" and entry["logger"] == "bot.app"
    assert entry["message"] == "ready: targets terminal (console)"
    assert entry["time"].endswith("+00:00")
