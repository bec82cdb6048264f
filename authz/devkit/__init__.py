"""Development kit: what the tests, the benchmark and the demo build their worlds from — a
development PKI (``pki``), key pairs, the example config and directory, signed tokens
(``world``). Never used by the server."""
