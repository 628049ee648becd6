# Prefect server (API + UI) for the videolights flows; its database is the compose file's postgres.
# Build from the repository root (docker/compose.yaml sets context ".."):
#   docker build -f docker/server.Dockerfile -t videolights-prefect-server .
# Pinned to the Prefect release the project is tested with (pyproject.toml: prefect>=3.8,<3.9).
FROM prefecthq/prefect:3.8.8-python3.11

# The upstream image runs as root; the server only needs a writable PREFECT_HOME.
RUN groupadd --gid 1000 prefect \
    && useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash prefect

ENV HOME=/home/prefect \
    PREFECT_HOME=/home/prefect/.prefect \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    PYTHONUNBUFFERED=1

USER 1000:1000
WORKDIR /home/prefect

EXPOSE 4200

# curl is not in the image; python's urllib is.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=5 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://127.0.0.1:4200/api/health', timeout=5); sys.exit(0 if r.status == 200 else 1)"]

# 0.0.0.0 inside the container so other services can reach it; compose publishes the port only
# on the host's 127.0.0.1. The upstream ENTRYPOINT (tini + entrypoint.sh) is kept.
CMD ["prefect", "server", "start", "--host", "0.0.0.0", "--port", "4200"]
