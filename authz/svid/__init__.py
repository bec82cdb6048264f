"""SPIFFE identities: SPIFFE ID syntax (``spiffe_id``) and trust bundle rules (``bundle``). The
X.509-SVID leaf rules are stage 1's (``authz/stages/identity.py``)."""
