"""agent-authz: an Envoy ext_authz server that makes an AI agent a request origin, never an authority."""

__version__ = "0.1.0.dev0"
