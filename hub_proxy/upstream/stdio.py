"""How a stdio MCP server is reached: a child spawned here, or a pair of FIFOs.

A stdio server speaks newline-delimited JSON-RPC on its stdin and stdout and
writes whatever it likes to stderr.  The multiplexer needs the two byte
streams and one piece of news: that they ended, and how.  Each channel here
produces a :class:`~hub_proxy.upstream.base.Link` -- the streams of one
lifetime of the server -- and the multiplexer asks for a fresh one whenever
the old one ends.

**Spawn** (the standalone hub, tests, local use): the hub or the bridge
starts the command itself.  The child gets its own process group, so stopping
it also stops whatever it started (``npx`` starts ``node``, shells start
interpreters); and it asks the kernel for ``PR_SET_PDEATHSIG``, so even a
``kill -9`` of its parent takes the child along instead of leaving an orphan
holding its resources.  The death signal belongs to the *thread* that forked,
and asyncio forks from the event loop's thread, which lives as long as the
process.  Its stderr is the parent's stderr: the server's own logs end up
where the container runtime collects them.

**FIFO** (the pod): the server runs in its own container, from its own image,
with its command wrapped as ``sh -c 'exec "$@" <DIR/stdin >DIR/stdout'``.  The
bridge creates the two FIFOs on the shared volume and opens them in the order
the shell does -- ``stdin`` for writing, then ``stdout`` for reading -- because
opening a FIFO blocks until the other end is opened too, and any other order
deadlocks.  When the server exits, its end closes, the bridge reads EOF,
closes its own ends and opens them again, which is exactly what the restarted
container's shell will wait for.  There is no process to signal from here: the
pod has no API access, and the kubelet owns the server's life.

Opening a FIFO is a blocking system call, so it runs in a worker thread.  Such
a call cannot be interrupted, which matters on shutdown while no server is
there: the bridge then opens the opposite end itself, non-blocking, which
releases the waiting thread.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import ctypes
import os
import signal
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Final

from hub_proxy.transport import jsonrpc
from hub_proxy.upstream.base import ChannelError, Link, UnreadableError

# A server's message may be large (a base64 image, a big resource); a longer
# line is dropped, with a log, rather than buffered without limit.
MAX_LINE_BYTES: Final = 64 * 1024 * 1024

_PR_SET_PDEATHSIG: Final = 1
_LIBC = ctypes.CDLL(None, use_errno=True)  # loaded before fork: the child only calls prctl


class StreamLink(abc.ABC):
    """A :class:`~hub_proxy.upstream.base.Link` over the byte streams of a stdio server."""

    pid: int | None = None

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def receive(self) -> jsonrpc.Message | None:
        while True:
            line = await self._reader.readline()
            if not line:
                return None
            if not line.isspace():
                break
        try:
            return jsonrpc.decode(line)
        except jsonrpc.MessageError as exc:
            raise UnreadableError(exc, line) from exc

    def send(self, message: jsonrpc.Message) -> bool:
        if self._writer.is_closing():
            return False
        self._writer.write(jsonrpc.encode(message) + b"\n")
        return True

    async def drain(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()

    @abc.abstractmethod
    async def close(self, grace: float) -> str:
        """See :meth:`Link.close`."""


class SpawnChannel:
    """Runs the server as a child of this process."""

    def __init__(self, argv: list[str]) -> None:
        if not argv:
            raise ChannelError("no command to run")
        self._argv = argv

    def describe(self) -> str:
        return f"starting {self._argv[0]}"

    async def open(self) -> Link:
        try:
            process = await asyncio.create_subprocess_exec(
                *self._argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=None,
                start_new_session=True,
                preexec_fn=_die_with_parent(os.getpid()),
                limit=MAX_LINE_BYTES,
            )
        except OSError as exc:
            raise ChannelError(f"could not start {self._argv[0]}: {exc.strerror or exc}") from exc
        return _ProcessLink(process)


class _ProcessLink(StreamLink):
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None  # noqa: S101 - both are pipes by construction
        assert process.stdin is not None  # noqa: S101
        super().__init__(process.stdout, process.stdin)
        self._process = process
        self.pid = process.pid

    async def close(self, grace: float) -> str:
        self._writer.close()
        if self._process.returncode is None:
            self._signal_group(signal.SIGTERM)
            try:
                await asyncio.wait_for(self._process.wait(), grace)
            except TimeoutError:
                self._signal_group(signal.SIGKILL)
        code = await self._process.wait()
        # Whatever the server started and left behind goes with it.
        self._signal_group(signal.SIGKILL)
        if code < 0:
            return f"exited on {signal.Signals(-code).name}"
        return f"exited with code {code}"

    def _signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, sig)


class FifoChannel:
    """Talks to a server in another container through ``DIR/stdin`` and ``DIR/stdout``."""

    def __init__(self, directory: Path) -> None:
        self.stdin = directory / "stdin"
        self.stdout = directory / "stdout"

    def describe(self) -> str:
        return f"waiting for the server to open {self.stdin}"

    def prepare(self) -> None:
        """Create the FIFOs the server's shell will open; refuse paths that are something else."""
        self.stdin.parent.mkdir(parents=True, exist_ok=True)
        for path in (self.stdin, self.stdout):
            try:
                mode = path.stat().st_mode
            except FileNotFoundError:
                os.mkfifo(path)
                # The server container may run as another user; the volume is the pod's own.
                path.chmod(0o666)
                continue
            if not stat.S_ISFIFO(mode):
                raise ChannelError(f"{path} exists and is not a FIFO")

    async def open(self) -> Link:
        self.prepare()
        stdin_fd = await _open_fifo(self.stdin, os.O_WRONLY)
        try:
            stdout_fd = await _open_fifo(self.stdout, os.O_RDONLY)
        except BaseException:
            os.close(stdin_fd)
            raise
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_LINE_BYTES)
        reading, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(stdout_fd, "rb", buffering=0)
        )
        writing, protocol = await loop.connect_write_pipe(
            # The protocol of a stream writer needs a reader, even an unused one.
            lambda: asyncio.StreamReaderProtocol(asyncio.StreamReader()),
            os.fdopen(stdin_fd, "wb", buffering=0),
        )
        writer = asyncio.StreamWriter(writing, protocol, None, loop)
        return _FifoLink(reader, writer, reading, self.stdout)


class _FifoLink(StreamLink):
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        reading: asyncio.ReadTransport,
        stdout: Path,
    ) -> None:
        super().__init__(reader, writer)
        self._reading = reading
        self._stdout = stdout

    async def close(self, grace: float) -> str:
        self._writer.close()
        self._reading.close()
        # EOF on stdout is all a FIFO tells: the server's process is gone with it.
        return f"exited (closed {self._stdout})"


_RELEASE_ATTEMPTS: Final = 100
_RELEASE_PAUSE_SECONDS: Final = 0.02


async def _open_fifo(path: Path, flags: int) -> int:
    """``os.open`` a FIFO in a thread, which blocks until the other end is opened."""
    opening = asyncio.get_running_loop().run_in_executor(None, os.open, path, flags)
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        opening.add_done_callback(_close_opened)
        # Again until the thread is out: one that had not yet entered open() when
        # the other end came and went would block on the next partner forever.
        for _ in range(_RELEASE_ATTEMPTS):
            _release_blocked_open(path, flags)
            await asyncio.wait({opening}, timeout=_RELEASE_PAUSE_SECONDS)
            if opening.done():
                break
        raise


def _release_blocked_open(path: Path, flags: int) -> None:
    """Open and close the other end of ``path``, which lets a blocked ``open`` return."""
    other = os.O_RDONLY if flags & os.O_WRONLY else os.O_WRONLY
    with contextlib.suppress(OSError):
        os.close(os.open(path, other | os.O_NONBLOCK))


def _close_opened(opening: asyncio.Future[int]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        os.close(opening.result())


def _die_with_parent(parent: int) -> Callable[[], None]:
    def preexec() -> None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        # The parent may have died between fork and prctl; then no signal comes.
        if os.getppid() != parent:
            os._exit(1)

    return preexec
