"""MCP clients written by others, driven the same way, so a test can pit them against the hub.

A test describes what one client does as a :class:`~tests.clients.driver.Plan`
-- where it connects, what it answers when asked (roots, sampling,
elicitation), and the steps it takes -- and gets back a
:class:`~tests.clients.driver.Report`: each step's result and everything the
server sent it.  Three implementations run plans:

* the MCP Python SDK 2.x, the project's own ``mcp``, in this process
  (:mod:`tests.clients.sdk2`), over streamable HTTP, legacy SSE or the
  2026-07-28 revision;
* the MCP Python SDK 1.x, as a script run by the test bed's SDK 1.x
  interpreter (``sdk1_client.py``);
* the TypeScript SDK, as a script run by the test bed's Node 22
  (``ts_client.mjs``).

A plan's ``wait`` step stops the client until the test says go, so several
clients and the test can take turns without sleeping on a guess.
"""
