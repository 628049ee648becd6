# GPU worker: runs the project's Prefect flows (decode, encoders, synth, VideoLights) on a GPU.
# Build from the repository root (docker/compose.yaml sets context ".."):
#   docker build -f docker/worker.Dockerfile -t videolights-worker .
#
# CUDA: the torch wheels carry their own CUDA 12.6 user-space libraries (cuBLAS, cuDNN, NCCL ...),
# so the host only needs an NVIDIA driver new enough for CUDA 12 (>= 525 with minor-version
# compatibility) and the NVIDIA Container Toolkit. The base image matches that CUDA line.
FROM nvidia/cuda:12.6.3-runtime-ubuntu22.04

# x86_64 pins from pyproject.toml (tests/test_docker.py checks they agree). The cu126 index holds
# CUDA 12.6 builds of exactly these releases; without it pip would take PyPI's default build of
# torch, which targets CUDA 13 and needs a much newer host driver.
ARG TORCH_VERSION=2.14.1
ARG TORCHVISION_VERSION=0.29.1
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126
ARG DEBIAN_FRONTEND=noninteractive

# Ubuntu 22.04's own Python 3.11 (universe); no PPA needed.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        python3.11=3.11.* \
        python3.11-venv=3.11.* \
    && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# torch first, in its own layer: it is by far the largest download and changes least often.
RUN python3.11 -m venv /opt/venv \
    && pip install --no-cache-dir --index-url "${TORCH_INDEX_URL}" \
        "torch==${TORCH_VERSION}" \
        "torchvision==${TORCHVISION_VERSION}"

# The project, with the Makefile's extras minus the development ones. The torch pins above already
# satisfy pyproject.toml (a local label like +cu126 matches ==2.14.1), so pip keeps the CUDA build.
# "./[dask]" is the same install as ".[dask]"; hadolint (DL3013) reads the latter as an unpinned
# package name but recognises the former as a local path.
WORKDIR /opt/videolights
COPY . .
RUN pip install --no-cache-dir "./[dask]" \
    && python -c "import torch, extractors, model, flows"

RUN groupadd --gid 1000 videolights \
    && useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash videolights \
    && mkdir -p /data /outputs \
    && chown videolights:videolights /data /outputs

# The worker's health endpoint (--with-healthcheck below), for the HEALTHCHECK only: loopback.
ENV PREFECT_SERVER_ANALYTICS_ENABLED=false \
    PREFECT_WORKER_WEBSERVER_HOST=127.0.0.1 \
    PREFECT_WORKER_WEBSERVER_PORT=8080 \
    HOME=/home/videolights

# Numeric, so the runtime can tell it is not root without reading /etc/passwd.
USER 1000:1000
WORKDIR /outputs

# Healthy while the worker polls the API: its own endpoint answers 503 once it has not polled
# for 30 query intervals (5 minutes by default), and not at all when the process is hung.
HEALTHCHECK --interval=60s --timeout=15s --start-period=60s --retries=3 \
    CMD ["python", "-m", "flows.health"]

CMD ["prefect", "worker", "start", "--pool", "gpu-pool", "--type", "process", "--with-healthcheck"]
