# The federation's image: evc-worker (one company's server) and evc-sim (cars
# and charge points on MQTT). One image for every company: a company is its
# environment (EVC_*, see README "Configuration").
#
#   docker build -t evc-worker .
#   docker run --rm -e EVC_COMPANY_ID=a -e EVC_DATABASE_URL=postgresql://... -p 8081:8081 evc-worker
#
# Stage 1 builds with the Debian 12 -dev packages, exactly as `make build` does
# on a developer machine; stage 2 carries only the runtime libraries.

FROM debian:12-slim AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential pkg-config libpq-dev libcivetweb-dev libpaho-mqtt-dev libjansson-dev \
        libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY workers ./workers
RUN make build

FROM debian:12-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libpq5 libcivetweb1 libpaho-mqtt1.3 libjansson4 libcurl4 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 evc \
    && useradd --system --uid 10001 --gid evc --home-dir /opt/evc --no-create-home --shell /usr/sbin/nologin evc
WORKDIR /opt/evc
COPY --from=build /src/build/evc-worker /src/build/evc-sim /usr/local/bin/
COPY db/migrations ./db/migrations
COPY static ./static
COPY docs ./docs
# Listen on every interface of the container; the rest comes from the environment.
ENV EVC_HTTP_HOST=0.0.0.0 \
    EVC_HTTP_PORT=8081 \
    EVC_STATIC_DIR=/opt/evc/static \
    EVC_MIGRATIONS_DIR=/opt/evc/db/migrations \
    EVC_DOCS_DIR=/opt/evc/docs
USER evc:evc
EXPOSE 8081
# Migrations run at start (up to 30 s of retries while the database comes up).
HEALTHCHECK --interval=5s --timeout=3s --start-period=60s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${EVC_HTTP_PORT}/api/v1/health" || exit 1
ENTRYPOINT ["/usr/local/bin/evc-worker"]
