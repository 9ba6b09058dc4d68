"""The test bed: real parts started for the tests, never mocks.

Each module owns one real part -- the Kubernetes control plane, PostgreSQL
with pgvector, the reference MCP servers, Node 22 with the conformance suite.
Installing a part (slow, once per machine) is separate from starting it (fast,
once per test session): ``python -m tests.testbed.install`` does the former,
the fixtures in ``tests/conftest.py`` the latter.  A part that is missing or
fails to start raises :class:`~tests.testbed.errors.TestbedError` with a
message that says what is missing and how to get it, and every start is
bounded by a timeout so that nothing hangs.

This package is stdlib-only on purpose: the installer must run on a fresh
machine before the project's virtual environment exists.
"""
