# agent-authz: the ext_authz gRPC server and its CLI (also the dev PKI and the sample API the
# docker-compose stack runs). Build: docker build -t agent-authz .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Copy only what the wheel is built from (not .venv/, tests/, a local PKI ...).
WORKDIR /build
COPY pyproject.toml README.md ./
COPY authz ./authz
COPY proto ./proto
# The approval API's modules and descriptor set are generated here, as `make` does locally.
RUN pip install "grpcio-tools>=1.85,<2" && python proto/generate.py \
    && pip install . && pip uninstall -y grpcio-tools \
    && pip install --force-reinstall --no-deps \
       "opentelemetry-proto==$(python -c 'import importlib.metadata as m; print(m.version("opentelemetry-proto"))')" \
    && rm -rf /build

# A fixed, unprivileged uid. docker-compose.yml gives Envoy the same uid (ENVOY_UID) so that it
# can read server.key, which `agent-authz pki init` writes with mode 0600.
# /etc/agent-authz/pki and /var/lib/agent-authz (the audit log) belong to that user so that the
# named volumes mounted there start
# out writable by it (Docker copies an image folder's ownership into an empty named volume).
RUN groupadd --system --gid 10001 agent-authz \
    && useradd --system --uid 10001 --gid agent-authz --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin agent-authz \
    && mkdir -p /etc/agent-authz/pki /etc/agent-authz/keys /var/lib/agent-authz \
    && chown -R agent-authz:agent-authz /etc/agent-authz /var/lib/agent-authz

USER agent-authz
WORKDIR /etc/agent-authz
ENTRYPOINT ["agent-authz"]
CMD ["--help"]
