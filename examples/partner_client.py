"""A partner's client for the Viken Park exchange's event stream (docs/partners.md).

Reads partners.events.v1 with the Kafka credentials a park administrator issued, and
prints each event as one JSON line (CloudEvents 1.0: type, subject, time, data). It needs
only aiokafka (`pip install aiokafka`).

    python partner_client.py --bootstrap 127.0.0.1:19092 --username partner-x-1a2b3c \\
        --password '...' [--security-protocol SASL_SSL --cafile ca.pem]

The password may come from PARTNER_PASSWORD instead of the command line. It commits its
position in its own consumer group (``<username>.<name>``), so a restart goes on where it
stopped. It stops on Ctrl-C, after --max-events, or when nothing came for --idle-seconds;
and with exit code 2 when the exchange refuses it (wrong password, or revoked).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import sys

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstrap", required=True, help="host:port of the partner listener")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", default=os.environ.get("PARTNER_PASSWORD"))
    parser.add_argument("--topic", default="partners.events.v1")
    parser.add_argument("--group", default="events", help="name after your username's prefix")
    parser.add_argument(
        "--security-protocol", default="SASL_PLAINTEXT", choices=["SASL_PLAINTEXT", "SASL_SSL"]
    )
    parser.add_argument("--cafile", help="CA certificate of the broker (SASL_SSL)")
    parser.add_argument(
        "--from-beginning", action="store_true", help="a new group starts at the start"
    )
    parser.add_argument("--max-events", type=int, default=0, help="stop after this many (0: never)")
    parser.add_argument(
        "--idle-seconds", type=float, default=0, help="stop after this long without one"
    )
    parsed = parser.parse_args()
    if not parsed.password:
        parser.error("give --password or set PARTNER_PASSWORD")
    return parsed


async def read(args: argparse.Namespace) -> int:
    context = None
    if args.security_protocol == "SASL_SSL":
        context = ssl.create_default_context(cafile=args.cafile)
    consumer = AIOKafkaConsumer(
        args.topic,
        bootstrap_servers=args.bootstrap,
        security_protocol=args.security_protocol,
        ssl_context=context,
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=args.username,
        sasl_plain_password=args.password,
        group_id=f"{args.username}.{args.group}",
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        enable_auto_commit=False,
    )
    seen = 0
    try:
        await consumer.start()
        while True:
            batch = await consumer.getmany(
                timeout_ms=int(args.idle_seconds * 1000) if args.idle_seconds else 60_000
            )
            if not batch and args.idle_seconds:
                return 0
            for records in batch.values():
                for record in records:
                    event = json.loads(record.value)
                    print(
                        json.dumps({k: event.get(k) for k in ("type", "subject", "time", "data")})
                    )
                    seen += 1
            sys.stdout.flush()
            if batch:
                await consumer.commit()
            if args.max_events and seen >= args.max_events:
                return 0
    except KafkaError as exc:
        print(f"refused by the exchange: {exc!r}", file=sys.stderr)
        return 2
    finally:
        await consumer.stop()


def main() -> None:
    try:
        sys.exit(asyncio.run(read(arguments())))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
