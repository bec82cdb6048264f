"""Tokens: compact JWS verification (``jws``), the task token (``task``) and approval token
(``approval``) formats, key files (``keys``) and task issuing (``issuer``). See docs/tokens.md."""
