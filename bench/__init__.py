"""Throughput benchmark: Envoy + agent-authz against Envoy + a no-op ext_authz server (see README.md)."""
