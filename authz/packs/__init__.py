"""Route packs shipped with agent-authz: one TOML file per upstream API (``authz/config/packs.py``)."""
