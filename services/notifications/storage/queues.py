"""What waits to be sent, for the metrics (``symbiosis_queue_depth``)."""

from __future__ import annotations

from shared.db import Pool


async def depths(pool: Pool) -> dict[str, float]:
    """E-mails queued to send and webhook deliveries pending."""
    row = await pool.fetchrow(
        """
        SELECT (SELECT count(*) FROM emails WHERE status = 'queued') AS emails,
               (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending') AS webhooks
        """
    )
    assert row is not None
    return {"emails": row["emails"], "webhook_deliveries": row["webhooks"]}
