"""Matrix: post bulletins to rooms and answer ``!`` commands (matrix-nio, end-to-end encryption included).

``open_sender(config)`` gives delivery its :class:`~bot.chat.sender.Sender`;
``MatrixBot(config, commands)`` is the long-running part, and its
:meth:`~MatrixBot.sender` posts through the same login. Login state and the
crypto store live in ``data_dir/matrix``.
"""

from __future__ import annotations

from bot.chat.matrix.client import CommandHandler, MatrixBot
from bot.chat.matrix.sender import MatrixSender, open_sender, transaction_id
from bot.chat.matrix.store import LoginFailed

__all__ = ["CommandHandler", "LoginFailed", "MatrixBot", "MatrixSender", "open_sender", "transaction_id"]
