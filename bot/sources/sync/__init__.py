"""Pull sources: donations read from the platforms' APIs (``donorbot sync``, and polled by ``run``).

One module per platform turns its API into a :class:`~bot.sources.sync.base.Batch`
(donations and refunds, and the cursor to resume from); :mod:`.runner` stores
each batch in one transaction and remembers the cursor, the time and the last
error per source in the ledger (:mod:`.state`).
"""

from __future__ import annotations

from bot.sources.sync.base import Batch, SyncError, SyncSource

__all__ = ["Batch", "SyncError", "SyncSource"]
