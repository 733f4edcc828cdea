"""Operators' commands for parked messages (the dead letters of a queue):

    python -m common.bus parked <queue>            how many, and their ids and routing keys
    python -m common.bus replay <queue> [--limit N]  give them back to the queue, retries anew

With the environment of any service (RABBITMQ_URL and the BUS_* settings). Over the in-memory
bus of the all-in-one wiring, parked messages live inside that process and end with it: there
is nothing to reach from outside, and the command says so.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from common.bus import QUEUES, create_bus
from common.config import Settings
from common.logging import configure_logging

NO_BROKER = 2


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    bus = create_bus(settings)
    await bus.start()
    try:
        if args.command == "parked":
            count = await bus.dead_letter_count(args.queue)
            print(f"{count} parked message(s) in {args.queue}")
            for envelope in await bus.dead_letters(args.queue):
                # never the payload: a mail request carries a link
                print(f"{envelope.id}  {envelope.routing_key}  {envelope.occurred_at.isoformat()}")
        else:
            replayed = await bus.replay_dead_letters(args.queue, limit=args.limit)
            print(f"replayed {replayed} parked message(s) to {args.queue}")
    finally:
        await bus.close()
    return 0


def main(argv: Sequence[str] | None = None, *, prog: str = "python -m common.bus") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Parked (dead-lettered) messages.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("parked", "list the parked messages"), ("replay", "replay them")):
        command = sub.add_parser(name, help=text)
        command.add_argument("queue", choices=sorted(QUEUES))
        if name == "replay":
            command.add_argument("--limit", type=int, default=None, help="at most N, oldest first")
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging("bus", level=settings.log_level, json=settings.log_json)
    if not settings.rabbitmq_url:
        print(
            "RABBITMQ_URL is not set: the in-memory bus keeps its parked messages inside the "
            "all-in-one process; there is nothing to reach from here.",
            file=sys.stderr,
        )
        return NO_BROKER
    return asyncio.run(_run(args, settings))


if __name__ == "__main__":
    sys.exit(main())
