"""The mcphub operator: reconciles MCPServer, MCPGroup and AccessPolicy.

It lives in the folder ``operator/`` but imports as ``mcphub_operator``: a
top-level package called ``operator`` would shadow the standard library's
module of that name and break nearly every dependency.
"""
