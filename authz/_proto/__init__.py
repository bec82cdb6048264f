"""Generated code, kept apart: ``proto/generate.py`` writes it at build time (``make``).

``approvals_pb2*.py``: the agent-facing approval API; ``agent_authz.pb``: its descriptor set for
Envoy's grpc_json_transcoder. Not committed, not linted, not type-checked.
"""
