"""Who writes and who reads each topic: the one table from which the topics are created,
each service's broker credentials are granted exactly what it needs (ACLs), and each
service checks its topics at start."""

from __future__ import annotations

from dataclasses import dataclass

from shared.events import Topic, dead_letter_topic


@dataclass(frozen=True)
class Access:
    """A service's topics: those it writes (through its outbox) and those it consumes
    (each also writing poison messages to the topic's dead-letter topic)."""

    produces: tuple[Topic, ...]
    consumes: tuple[Topic, ...]

    @property
    def topics(self) -> tuple[str, ...]:
        """Every topic the service touches, dead-letter topics of what it reads included."""
        names = [t.value for t in self.produces + self.consumes]
        names += [dead_letter_topic(t.value) for t in self.consumes]
        return tuple(dict.fromkeys(names))


# Every service also reads listings.events.v1 for revoked API keys (shared/revocations.py).
TOPOLOGY: dict[str, Access] = {
    "listings": Access(produces=(Topic.LISTINGS,), consumes=(Topic.CONTRACTS, Topic.LISTINGS)),
    "matching": Access(produces=(Topic.PROPOSALS,), consumes=(Topic.LISTINGS,)),
    "contracts": Access(produces=(Topic.CONTRACTS,), consumes=(Topic.PROPOSALS, Topic.LISTINGS)),
    "notifications": Access(
        produces=(Topic.NOTIFICATIONS, Topic.PARTNERS),
        consumes=(Topic.PROPOSALS, Topic.CONTRACTS, Topic.LISTINGS),
    ),
}


def dead_lettered_topics() -> tuple[Topic, ...]:
    """The topics some service consumes, so whose dead-letter topics may hold messages."""
    consumed = {topic for access in TOPOLOGY.values() for topic in access.consumes}
    return tuple(t for t in Topic if t in consumed)


# Partners read this and nothing else; they never write.
PARTNER_TOPICS: tuple[Topic, ...] = (Topic.PARTNERS,)


def all_topics() -> tuple[str, ...]:
    """Every topic of the exchange, dead-letter topics included."""
    names = [name for access in TOPOLOGY.values() for name in access.topics]
    names += [t.value for t in Topic]
    names += [dead_letter_topic(t.value) for t in Topic]
    return tuple(sorted(set(names)))
