# One build, two images: the hub (which also carries the stdio bridge the
# operator runs as a sidecar, `python -m hub_proxy.bridge`) and the operator.
#   docker build --target hub -t ghcr.io/mcphub/mcphub:0.1.0 .
#   docker build --target operator -t ghcr.io/mcphub/mcphub-operator:0.1.0 .
# Each entrypoint is the very command the tests run.
FROM python:3.11-slim AS wheels
WORKDIR /src
COPY pyproject.toml README.md ./
COPY crds/mcphub_api crds/mcphub_api
COPY crds/mcphub_runtime crds/mcphub_runtime
COPY hub_proxy hub_proxy
COPY operator/mcphub_operator operator/mcphub_operator
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim AS runtime
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir /wheels/*.whl
USER 65532:65532

FROM runtime AS operator
ENTRYPOINT ["python", "-m", "mcphub_operator"]

FROM runtime AS hub
EXPOSE 8080
ENTRYPOINT ["python", "-m", "hub_proxy"]
