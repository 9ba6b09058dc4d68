"""What every mcphub program runs on: the operator, the hub and the bridge alike.

* :mod:`~mcphub_runtime.kube` -- the one Kubernetes API client (the operator's
  writes and the hub's list-and-watch);
* :mod:`~mcphub_runtime.retry` -- the one jittered back-off policy;
* :mod:`~mcphub_runtime.logs` -- ``--log-level``, ``--log-format`` and the one
  JSON line format;
* :mod:`~mcphub_runtime.cli` -- command lines whose every flag is also an
  ``MCPHUB_*`` environment variable;
* :mod:`~mcphub_runtime.tracing` -- OpenTelemetry tracing, on or off from the
  standard ``OTEL_*`` environment variables, with OTLP export.

It lives beside the API package (``mcphub_api``) because both the operator and
the hub import it and it imports neither: imports stay one-way.
"""
