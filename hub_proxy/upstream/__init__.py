"""The hub's client side: MCP servers it reaches, each shared by many downstream sessions.

What :mod:`hub_proxy.transport` is for the clients that connect to the hub,
this package is for the servers the hub (and the stdio bridge) connects to.
An upstream is one MCP session with one server at a time, kept alive for as
long as the hub runs, and every downstream session that uses the server talks
to it through that one session:

* :mod:`~hub_proxy.upstream.base` -- what a link and a channel are;
* :mod:`~hub_proxy.upstream.stdio` -- a stdio server's stdin and stdout: a
  child the hub spawns, or two FIFOs to a server in another container;
* :mod:`~hub_proxy.upstream.remote` -- a remote server, over
  :mod:`~hub_proxy.upstream.streamable_http` or legacy
  :mod:`~hub_proxy.upstream.sse`;
* :mod:`~hub_proxy.upstream.supervisor` -- keeps one server running and
  initialized: start, handshake, back-off, restart, status;
* :mod:`~hub_proxy.upstream.router` -- shares its one session among many:
  ids, progress tokens, and who gets each message the server sends;
* :mod:`~hub_proxy.upstream.multiplexer` -- the two put together.

The stdio bridge (:mod:`hub_proxy.bridge`) is this package behind an HTTP
endpoint; the hub's :mod:`hub_proxy.upstreams` is this package behind its
catalog.
"""
