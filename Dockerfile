# One image for the three services; docker-compose.yml picks the module with `command`.
# Pinned base image; runs as an unprivileged user; health is checked through gRPC health
# (see the healthcheck of each service in docker-compose.yml).
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ROVER_LOG_FORMAT=json

RUN groupadd --system --gid 10001 rover \
    && useradd --system --uid 10001 --gid rover --home-dir /app --shell /usr/sbin/nologin rover

WORKDIR /app

# Dependencies first (cached while only the code changes), then the code itself.
COPY pyproject.toml README.md ./
RUN mkdir -p domain services protos \
    && touch domain/__init__.py services/__init__.py protos/__init__.py \
    && pip install . \
    && pip uninstall --yes mars-rover \
    && rm -rf domain services protos build *.egg-info
COPY domain ./domain
COPY protos ./protos
COPY services ./services
RUN pip install --no-deps . && rm -rf build *.egg-info

USER rover:rover
EXPOSE 50051 50052 50053
# The module to run is the compose service's command (services.command, .query, .broadcaster).
CMD ["python", "-m", "services.command"]
