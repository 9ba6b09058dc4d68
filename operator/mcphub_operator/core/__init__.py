"""The operator's core: what the cluster should look like, decided without kopf.

Modules here compute desired objects and statuses from API types and from
what they are told about the cluster through the small :class:`Cluster`
protocol; they never import kopf.  ``mcphub_operator.handlers`` wires them to
kopf, and ``mcphub_runtime.kube`` is the one module that talks to the API.
"""
