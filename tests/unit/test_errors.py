"""One error hierarchy: every exception agent-authz defines descends from AuthzError."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import authz
from authz.errors import AuthzError, ConfigError, StoreError, TokenError


def authz_exceptions() -> list[type[BaseException]]:
    found = []
    for info in pkgutil.walk_packages(authz.__path__, "authz."):
        if info.name.startswith("authz._proto") or info.name == "authz.__main__":
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and obj.__module__ == module.__name__:
                found.append(obj)
    return found


def test_every_exception_descends_from_authz_error() -> None:
    exceptions = authz_exceptions()
    assert len(exceptions) > 15
    strays = [f"{e.__module__}.{e.__name__}" for e in exceptions if not e.__name__.startswith("_")
              and not issubclass(e, AuthzError)]  # fmt: skip
    assert strays == []


def test_areas_catch_their_narrow_errors() -> None:
    from authz.store import StoreUnavailable
    from authz.tokens.jws import JwsError

    assert issubclass(JwsError, TokenError) and issubclass(StoreUnavailable, StoreError)
    error = ConfigError("agent-authz.toml", "routes[0].path", "is wrong")
    assert (error.file, error.key, str(error)) == (
        "agent-authz.toml",
        "routes[0].path",
        "agent-authz.toml: routes[0].path: is wrong",
    )
