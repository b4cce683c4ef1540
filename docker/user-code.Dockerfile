# The user code: the embedloop project served as a Dagster code location over gRPC
# (`dagster code-server start`). Runs that the daemon launches execute in this container
# (DefaultRunLauncher asks the code server to start them), so it holds the warehouse volume
# and the training stack. Rebuild and restart only this service to deploy new code.
#
# TORCH_INDEX_URL picks the PyTorch build: CPU by default; docker-compose.gpu.yml passes a
# CUDA index. EXTRAS adds optional dependency groups (k8s: dagster-k8s for deploy/k8s/).
FROM python:3.11-slim

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ARG EXTRAS=k8s
RUN apt-get update && apt-get install -y --no-install-recommends git make \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/embedloop
COPY pyproject.toml constraints.txt README.md ./
COPY embedloop embedloop
COPY orchestration orchestration
COPY assets assets
COPY training training
COPY quality quality
COPY deploy deploy
RUN pip install --no-cache-dir --extra-index-url "${TORCH_INDEX_URL}" \
    -c constraints.txt -e ".[${EXTRAS}]"

# data_dir (embedloop.yaml: data) resolves to /opt/embedloop/data, the embedloop-data volume.
# ZenML's client config and its local artifact store live there too.
ENV DAGSTER_HOME=/opt/dagster/home \
    EMBEDLOOP_CONFIG=/opt/embedloop/embedloop.yaml \
    ZENML_CONFIG_PATH=/opt/embedloop/data/zenml-client \
    ZENML_ANALYTICS_OPT_IN=false \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1
COPY dagster.yaml ${DAGSTER_HOME}/dagster.yaml
COPY embedloop.yaml ./
EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=10s --retries=10 \
    CMD ["dagster", "api", "grpc-health-check", "-p", "4000"]
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", \
     "-m", "orchestration.definitions", "--location-name", "embedloop"]
