"""Envoy: the ext_authz adapter (``adapter``: CheckRequest → RequestContext, Decision →
CheckResponse, the only code that knows Envoy's protos) and the sidecar config (``config``)."""
