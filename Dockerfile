# One image for the server and the cluster's workers (`hush worker`). PyAV and soundfile wheels
# bundle FFmpeg and libsndfile, so the runtime stage needs no system audio packages.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# gcc builds the C recursions of the noise reducer (dsp/_recursions.c); only this stage has it
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/hush
COPY pyproject.toml setup.py README.md ./
COPY requirements/constraints.txt requirements/constraints.txt
COPY app app
COPY dsp dsp
RUN /opt/hush/bin/pip install -c requirements/constraints.txt ".[cluster]"

FROM python:3.11-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 hush \
    && useradd --system --uid 10001 --gid hush --home-dir /data --shell /usr/sbin/nologin hush \
    && mkdir -p /data && chown hush:hush /data
COPY --from=build /opt/hush /opt/hush
ENV PATH=/opt/hush/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HUSH_DATA_DIR=/data \
    HUSH_HOST=0.0.0.0 \
    HUSH_PORT=8000
USER hush
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('HUSH_PORT', '8000'), timeout=4)"]
# Listening on 0.0.0.0 needs HUSH_API_KEYS: the server refuses to start open on a public address.
CMD ["hush", "serve"]
