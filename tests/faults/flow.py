"""A flow of matching pairs and its tally, for the fault suite.

Each pair is one offer and one need of the same resource at a site of its own, more than a
thousand kilometres from every other pair's, so that each offer matches exactly its own
need: every pair should give one proposal (matching), one negotiation (contracts), and a
`trade.proposed` note in each side's inbox (notifications). ``tally`` counts what the
databases hold, per pair: lost is a pair short of one, doubled a pair with more.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from tests.support import eventually, register_company


@dataclass(frozen=True)
class Pair:
    index: int
    offer_id: str
    need_id: str


@dataclass
class Tally:
    pairs: int
    counts: dict[str, Counter[int]] = field(default_factory=dict)

    def lost(self, what: str) -> int:
        return sum(1 for i in range(self.pairs) if self.counts[what][i] < 1)

    def doubled(self, what: str) -> int:
        return sum(1 for i in range(self.pairs) if self.counts[what][i] > 1)

    def complete(self) -> bool:
        return all(self.lost(what) == 0 for what in self.counts)

    def rows(self) -> list[tuple[str, int, int, int]]:
        return [(what, self.pairs, self.lost(what), self.doubled(what)) for what in self.counts]


def site(index: int) -> tuple[float, float]:
    """Site ``index`` of a grid of 16,920 points, each more than 100 km from the next (the
    farthest the matcher proposes by road)."""
    assert 0 <= index < 141 * 120
    return -70.0 + (index // 120) * 1.0, -179.0 + (index % 120) * 3.0


# Each flow of a test session takes sites of its own: a flow's listings left open must
# never meet another flow's.
_BLOCKS = itertools.count()
BLOCK = 400


def listing(kind: str, index: int, tag: str, first_site: int = 0) -> dict[str, Any]:
    latitude, longitude = site(first_site + index)
    return {
        "kind": kind,
        "ewc_code": "030105",
        "title": f"{tag} {kind} #{index}",
        "quantity": "10",
        "unit": "t",
        "location": {"latitude": latitude, "longitude": longitude},
    }


class Flow:
    """Two companies of their own posting ``pairs`` pairs at ``rate`` listings a second."""

    def __init__(self, client: httpx.AsyncClient, tag: str) -> None:
        self.client = client
        self.tag = tag
        self.supplier: dict[str, Any] = {}
        self.receiver: dict[str, Any] = {}
        self.pairs: list[Pair] = []
        self.answers: Counter[int] = Counter()  # status codes seen, retries included
        self.first_site = next(_BLOCKS) * BLOCK
        self.retry_after_missing = 0

    async def start(self, people: bool = False) -> None:
        """Register the two companies; with ``people``, each with an administrator who gets
        the company's e-mails (at ``<side>.<tag>@faults.example``)."""
        slug = self.tag.lower().replace(" ", "-")
        for side in ("supplier", "receiver"):
            body: dict[str, Any] = {"name": f"{self.tag} {side.title()} AS"}
            if people:
                body["admin"] = {
                    "name": f"{side.title()} Person",
                    "email": f"{side}.{slug}@faults.example",
                    "password": "a long enough password",
                    "language": "en",
                }
            company = await register_company(self.client, body.pop("name"), **body)
            setattr(self, side, company)

    async def people_known(self, database_url: str, timeout: float = 60) -> None:
        """Until the notifications service's directory holds both sides' administrators
        (from listings.events.v1), so that the first proposal finds whom to e-mail."""
        wanted = {
            (self.email_of(side), getattr(self, side)["company"]["id"])
            for side in ("supplier", "receiver")
        }

        async def known() -> bool:
            db = await asyncpg.connect(database_url)
            try:
                rows = await db.fetch(
                    "SELECT email, company_id::text FROM notifications.people "
                    "WHERE email = ANY($1::text[])",
                    [email for email, _ in wanted],
                )
            finally:
                await db.close()
            return {(r["email"], r["company_id"]) for r in rows} == wanted

        await eventually(known, timeout=timeout)

    def email_of(self, side: str) -> str:
        return f"{side}.{self.tag.lower().replace(' ', '-')}@faults.example"

    async def hook(self, side: str, url: str) -> None:
        """A webhook endpoint of ``side``'s for proposals, at ``url``."""
        company = self.supplier if side == "supplier" else self.receiver
        response = await self.client.post(
            "/api/notifications/webhooks/endpoints/",
            json={"url": url, "event_types": ["trade.proposed"]},
            headers=company["headers"],
        )
        assert response.status_code == 201, response.text

    async def post(self, kind: str, index: int) -> str:
        company = self.supplier if kind == "offer" else self.receiver
        assert index < BLOCK
        body = listing(kind, index, self.tag, self.first_site)
        # Retried with one Idempotency-Key, as a client does when an answer is lost.
        headers = {**company["headers"], "Idempotency-Key": f"{self.tag}-{kind}-{index}"}
        deadline = time.monotonic() + 120
        while True:
            try:
                response = await self.client.post(
                    "/api/listings/listings/", json=body, headers=headers, timeout=20
                )
                self.answers[response.status_code] += 1
                if response.status_code == 503 and "retry-after" not in response.headers:
                    self.retry_after_missing += 1
                if response.status_code == 201:
                    listing_id: str = response.json()["id"]
                    return listing_id
                assert response.status_code in (409, 502, 503, 504), (
                    f"{kind} {index}: {response.status_code} {response.text[:300]!r} "
                    f"{dict(response.headers)}"
                )
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"could not post {kind} #{index} within 120 s")
            await asyncio.sleep(0.5)

    async def run(
        self,
        count: int,
        rate: float,
        at: dict[int, Callable[[], Awaitable[None]]] | None = None,
    ) -> list[Pair]:
        """Post ``count`` pairs; before pair ``i`` of ``at``, run its action (a kill)."""
        interval = 2 / rate
        for index in range(count):
            if at and index in at:
                await at[index]()
            started = time.monotonic()
            offer, need = await asyncio.gather(self.post("offer", index), self.post("need", index))
            self.pairs.append(Pair(index, offer, need))
            await asyncio.sleep(max(0.0, interval - (time.monotonic() - started)))
        return self.pairs

    async def tally(self, database_url: str) -> Tally:
        by_offer = {pair.offer_id: pair.index for pair in self.pairs}
        tally = Tally(len(self.pairs))
        db = await asyncpg.connect(database_url)
        try:
            proposals = await db.fetch(
                "SELECT id, offer_id::text FROM matching.proposals "
                "WHERE offer_id = ANY($1::uuid[])",
                list(by_offer),
            )
            tally.counts["proposals"] = Counter(by_offer[r["offer_id"]] for r in proposals)
            index_of = {str(r["id"]): by_offer[r["offer_id"]] for r in proposals}
            negotiations = await db.fetch(
                "SELECT id::text FROM contracts.negotiations WHERE id = ANY($1::uuid[])",
                list(index_of),
            )
            tally.counts["negotiations"] = Counter(index_of[r["id"]] for r in negotiations)
            notes = await db.fetch(
                "SELECT subject_id, company_id::text FROM notifications.inbox "
                "WHERE event_type = 'trade.proposed' AND subject_id = ANY($1::text[])",
                list(index_of),
            )
            for side, company in (("supplier", self.supplier), ("receiver", self.receiver)):
                tally.counts[f"inbox notes ({side})"] = Counter(
                    index_of[r["subject_id"]]
                    for r in notes
                    if r["company_id"] == company["company"]["id"]
                )
        finally:
            await db.close()
        return tally

    async def settled(self, database_url: str, timeout: float) -> Tally:
        """The tally once every pair has everything (or the last one after ``timeout``)."""
        last: Tally | None = None

        async def complete() -> Tally | None:
            nonlocal last
            last = await self.tally(database_url)
            return last if last.complete() else None

        try:
            return await eventually(complete, timeout=timeout, interval=1.0)  # type: ignore[no-any-return]
        except AssertionError:
            assert last is not None
            return last


def table(title: str, rows: list[tuple[str, int, int, int]]) -> str:
    lines = [title, f"{'effect':<26}{'pairs':>7}{'lost':>7}{'doubled':>9}"]
    lines += [f"{what:<26}{pairs:>7}{lost:>7}{doubled:>9}" for what, pairs, lost, doubled in rows]
    return "\n".join(lines)
