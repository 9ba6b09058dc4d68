"""Serve a stdio MCP server over streamable HTTP.

In the pod, next to a server container that runs its command as
``sh -c 'exec "$@" <DIR/stdin >DIR/stdout' mcphub-stdio COMMAND ARGS...``::

    python -m hub_proxy.bridge --fifo-dir /var/run/mcphub --port 8080 --path /mcp

For tests and local use, the bridge starts the server itself::

    python -m hub_proxy.bridge --host 127.0.0.1 --port 8080 -- COMMAND ARGS...

SIGTERM or SIGINT closes the HTTP sessions, stops a spawned server (SIGTERM,
then SIGKILL after ``--stop-timeout``) and exits 0.

Tracing is configured by the standard ``OTEL_*`` environment variables (see
:mod:`hub_proxy.telemetry.tracing`); settings it cannot honour are exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from hub_proxy.bridge.app import create_app
from hub_proxy.transport import DEFAULT_MAX_BODY_BYTES, EndpointOptions
from hub_proxy.upstream.base import Channel, ChannelError
from hub_proxy.upstream.multiplexer import Multiplexer
from hub_proxy.upstream.stdio import FifoChannel, SpawnChannel
from hub_proxy.upstream.supervisor import Timeouts
from mcphub_runtime import cli, logs, tracing

# Seconds aiohttp waits for handlers after the sessions were closed; they end at once.
_HTTP_SHUTDOWN_SECONDS = 5.0

logger = logging.getLogger("hub_proxy.bridge")


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """Options, and the command after ``--`` (empty in FIFO mode)."""
    split = argv.index("--") if "--" in argv else len(argv)
    options, command = argv[:split], argv[split + 1 :]
    parser = cli.parser(
        prog="python -m hub_proxy.bridge",
        usage="%(prog)s [options] (--fifo-dir DIR | -- COMMAND [ARGS...])",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Loopback, as every program; in the pod the operator passes 0.0.0.0 for the Service.
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="TCP port (default: 8080)")
    parser.add_argument("--path", default="/mcp", help="path of the MCP endpoint (default: /mcp)")
    parser.add_argument(
        "--fifo-dir",
        type=Path,
        metavar="DIR",
        help="reach the server through DIR/stdin and DIR/stdout instead of spawning it",
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        metavar="SECONDS",
        default=30.0,
        help="seconds a request waits for a (re)starting server (default: 30)",
    )
    parser.add_argument(
        "--init-timeout",
        type=float,
        metavar="SECONDS",
        default=60.0,
        help="seconds the server has to answer initialize (default: 60)",
    )
    parser.add_argument(
        "--stop-timeout",
        type=float,
        metavar="SECONDS",
        default=10.0,
        help="seconds between SIGTERM and SIGKILL when stopping the server (default: 10)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        metavar="BYTES",
        default=DEFAULT_MAX_BODY_BYTES,
        help=f"largest POST body accepted (default: {DEFAULT_MAX_BODY_BYTES})",
    )
    args = parser.parse_args(options)
    if (args.fifo_dir is None) == (not command):
        parser.error("give either --fifo-dir DIR or -- COMMAND [ARGS...], exactly one of them")
    if not args.path.startswith("/"):
        parser.error("--path must start with /")
    return args, command


async def serve(args: argparse.Namespace, command: list[str]) -> int:
    """Run until SIGTERM or SIGINT (exit status 0) or until something breaks (1)."""
    channel: Channel
    try:
        if args.fifo_dir is None:
            channel = SpawnChannel(command)
        else:
            channel = FifoChannel(args.fifo_dir)
            # Up front, so the server's shell finds them however early it starts.
            channel.prepare()
    except (ChannelError, OSError) as exc:
        logger.error("cannot reach the server", extra={"why": str(exc)})
        return 1
    timeouts = Timeouts(
        ready=args.ready_timeout, initialize=args.init_timeout, stop=args.stop_timeout
    )
    multiplexer = Multiplexer(channel, timeouts)
    app = create_app(
        multiplexer, path=args.path, options=EndpointOptions(max_body_bytes=args.max_body_bytes)
    )
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=_HTTP_SHUTDOWN_SECONDS)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await web.TCPSite(runner, args.host, args.port).start()
    except OSError as exc:
        logger.error("cannot listen", extra={"host": args.host, "port": args.port, "why": str(exc)})
        await runner.cleanup()
        return 1
    logger.info("bridge listening", extra={"url": f"http://{args.host}:{args.port}{args.path}"})
    supervisor = asyncio.create_task(multiplexer.run())
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({supervisor, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if supervisor.done():
            logger.error("the server's supervisor failed", exc_info=supervisor.exception())
            return 1
        logger.info("stopping")
        return 0
    finally:
        # Sessions first, so their requests end with an answer; then the server.
        await runner.cleanup()
        stopping.cancel()
        supervisor.cancel()
        await asyncio.gather(supervisor, stopping, return_exceptions=True)
        logger.info("bridge stopped")


def main(argv: list[str] | None = None) -> int:
    args, command = parse_args(sys.argv[1:] if argv is None else argv)
    logs.configure(args.log_level, args.log_format)
    try:
        traces = tracing.configure("mcphub-bridge")
    except tracing.TracingConfigError as exc:
        print(f"mcphub-bridge: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(serve(args, command))
    finally:
        traces.shutdown()


if __name__ == "__main__":
    sys.exit(main())
