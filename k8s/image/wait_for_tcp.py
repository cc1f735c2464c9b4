#!/usr/bin/env python3
"""wait-for-tcp HOST:PORT...: exit 0 once every address accepts a TCP connection.

Init containers run it so that a pod's main container starts only when the
databases it needs answer. Each of ours opens its client port only when it can
serve: MariaDB after its first-run initialisation (done with networking off),
Cassandra after it has joined its ring, Redis as soon as it listens (it answers
LOADING while it replays its AOF, which clients retry). A name that does not
resolve yet counts as not reachable: a headless Service lists a pod only once
it is ready.

Exit status 1 after ``--timeout`` seconds, naming the addresses still
unreachable, so a Job fails visibly instead of waiting forever.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from collections.abc import Sequence

DEFAULT_TIMEOUT_SECONDS = 600.0
DEFAULT_INTERVAL_SECONDS = 2.0
CONNECT_TIMEOUT_SECONDS = 2.0


def parse_address(text: str) -> tuple[str, int]:
    host, separator, port = text.rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


def reachable(address: tuple[str, int]) -> bool:
    try:
        with socket.create_connection(address, timeout=CONNECT_TIMEOUT_SECONDS):
            return True
    except OSError:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("addresses", nargs="+", type=parse_address, metavar="HOST:PORT")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS)
    parser.add_argument("--interval", type=float, default=DEFAULT_INTERVAL_SECONDS)
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.timeout
    pending: list[tuple[str, int]] = list(args.addresses)
    while True:
        pending = [address for address in pending if not reachable(address)]
        names = " ".join(f"{host}:{port}" for host, port in pending)
        if not pending:
            print("reachable: " + " ".join(f"{h}:{p}" for h, p in args.addresses), flush=True)
            return 0
        if time.monotonic() >= deadline:
            print(f"still unreachable after {args.timeout:g} s: {names}", file=sys.stderr)
            return 1
        print(f"waiting for {names}", flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    sys.exit(main())
