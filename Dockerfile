# One build, two images: the hub (which also carries the stdio bridge the
# operator runs as a sidecar, `python -m hub_proxy.bridge`) and the operator.
#   docker build --target hub -t ghcr.io/mcphub/mcphub:0.1.0 .
#   docker build --target operator -t ghcr.io/mcphub/mcphub-operator:0.1.0 .
# Each entrypoint is the very command the tests run.
#
# The base image is pinned by digest, and the dependencies install from the
# hashed lock (requirements.lock), so two builds of one commit get the same
# bytes.  The digest was taken from public projects that pin the same image and
# could not be checked from where it was written (no container registry is
# reachable there): confirm or refresh it with
#   docker buildx imagetools inspect python:3.11-slim
ARG PYTHON_IMAGE=python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

FROM ${PYTHON_IMAGE} AS wheels
WORKDIR /src
COPY requirements.lock ./
RUN pip wheel --no-cache-dir --require-hashes --wheel-dir /wheels -r requirements.lock
COPY pyproject.toml README.md ./
COPY crds/mcphub_api crds/mcphub_api
COPY crds/mcphub_runtime crds/mcphub_runtime
COPY hub_proxy hub_proxy
COPY operator/mcphub_operator operator/mcphub_operator
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE} AS runtime
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index /wheels/*.whl
USER 65532:65532

FROM runtime AS operator
ENTRYPOINT ["python", "-m", "mcphub_operator"]

FROM runtime AS hub
EXPOSE 8080
ENTRYPOINT ["python", "-m", "hub_proxy"]
