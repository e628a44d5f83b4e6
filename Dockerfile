# The tickcast server image: `tickcast serve` on 0.0.0.0, TCP 7777 and HTTP 8080.
#
#   docker build -t tickcast .
#   docker run --rm -p 7777:7777 -p 8080:8080 -e TICKCAST_SECRET=... tickcast
#
# On a public address the server refuses to start without a token secret
# (TICKCAST_SECRET, 32 bytes or more, or --secret-file): see docs/security.md.
# compose.yaml runs two of these on one Redis. docs/deployment.md says more; CI
# does not build this image (no container engine there): tests/integration/
# test_container_files.py checks that every command and flag it runs exists.

# ---- build: the wheel of this checkout (the image holds no sources)
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE CHANGELOG.md MANIFEST.in ./
COPY src ./src
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# ---- run
FROM python:3.11-slim
RUN groupadd --system --gid 10001 tickcast \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /var/lib/tickcast tickcast
COPY --from=build /wheels /wheels
# the cluster extra: the server (HTTP side, tokens, metrics) and Redis for compose.yaml's nodes
RUN pip install --no-cache-dir "$(echo /wheels/tickcast-*.whl)[cluster]" && rm -rf /wheels
USER 10001:10001
WORKDIR /var/lib/tickcast
# every listener on all interfaces; the tick log in the volume
ENV TICKCAST_HOST=0.0.0.0 \
    TICKCAST_HTTP_HOST=0.0.0.0 \
    TICKCAST_DATA_DIR=/var/lib/tickcast/data \
    PYTHONUNBUFFERED=1
RUN mkdir -p /var/lib/tickcast/data
VOLUME /var/lib/tickcast/data
EXPOSE 7777 8080
# liveness: the event loop answers /healthz (the HTTP listener, --no-http turns it off)
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2)"]
# SIGTERM: a graceful stop (a cluster node drains its rooms to the others first)
STOPSIGNAL SIGTERM
ENTRYPOINT ["tickcast"]
CMD ["serve"]
