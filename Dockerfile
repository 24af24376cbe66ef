# Basis: one image for the server (`basis serve`), the worker (`basis worker`) and migrations
# (`basis migrate`). docker-compose.yml runs all three; docs/deployment.md explains.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# A compiler only for a dependency that ships no wheel for this platform; not in the final image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY migrations ./migrations
RUN python -m venv /opt/basis \
    && /opt/basis/bin/pip install --upgrade pip \
    && /opt/basis/bin/pip install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/basis/bin:$PATH \
    BASIS_DATA_DIR=/var/lib/basis
# A Unicode font for PDF reports (HemoDay's clinician's report, Cyrillic text).
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 basis \
    && useradd --system --uid 10001 --gid basis --home-dir /var/lib/basis --shell /usr/sbin/nologin basis \
    && mkdir -p /var/lib/basis \
    && chown basis:basis /var/lib/basis
COPY --from=build /opt/basis /opt/basis
USER basis
WORKDIR /var/lib/basis
VOLUME ["/var/lib/basis"]
EXPOSE 8000
# Liveness only (no database): readiness is /health/ready, used by the compose file.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status != 200)"]
CMD ["basis", "serve", "--host", "0.0.0.0", "--port", "8000"]
