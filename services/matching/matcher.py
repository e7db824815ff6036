"""Finding a listing's best counterparts: the index is read best bound first, in pages, and
the matcher's rules applied to what it returns, until the rest cannot make the cut."""

from __future__ import annotations

from services.matching import storage
from services.matching.domain import OpenListing, Shortlist
from shared.db import Connection

# The first page holds this many times the proposals wanted, and at least MIN_PAGE rows;
# each next page four times the one before.
FIRST_PAGE = 2
MIN_PAGE = 10
GROWTH = 4


async def shortlist(
    conn: Connection, listing: OpenListing, limit: int, haulage_ore_per_tkm: int | None = None
) -> Shortlist:
    """The best ``limit`` proposals for ``listing`` among the open listings, as a scan of
    every one of them would find them (``domain.best_proposals``)."""
    found = Shortlist(listing, limit, haulage_ore_per_tkm)
    page = max(FIRST_PAGE * limit, MIN_PAGE)
    after = None
    while True:
        rows = await storage.ranked_counterparts(conn, listing, page, after)
        found.add(candidate for candidate, _ in rows)
        if len(rows) < page:
            return found  # every counterpart read
        after = rows[-1]
        last, bound = after
        if found.settled(bound, last.listing_id):
            return found
        page *= GROWTH
