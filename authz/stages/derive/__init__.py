"""Operations read from the body: one request, several actions (stage 2, ``authz/stages/operation.py``).

On some APIs one method and path mean very different things: SCIM ``PATCH /Users/{id}`` is a
profile edit, a password change or a disable depending on its body; Keycloak's ``PUT
/users/{id}`` sets a password when the body holds ``credentials``. A route with ``derive``
(``authz/config/derive.py``) is read here into ``Action``s, each an operation of a class on a
principal, the most demanding first; every later stage decides on every action, so a request
is allowed only if all it does is.

Readers:

- ``attributes`` — a JSON object whose top-level attributes are classified (Keycloak, Okta,
  Graph updates; SCIM creates);
- ``scim-patch`` — a SCIM PatchOp (RFC 7644 §3.5.2): every operation, with or without
  ``path``, by the attributes it touches (``scim.py``);
- ``scim-bulk`` — a SCIM BulkRequest (RFC 7644 §3.7): every operation matched against the
  route table and read as if sent alone (``bulk.py``).

Attributes are compared as the most lenient upstream would (any case, separators, URN-qualified
or dotted); an attribute a rule names but whose change no rule covers (``active = "no"``, a
``replace`` of all members) cannot be classified, and the request is refused
(``malformed_request``) rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from authz.model import Action
from authz.stages.derive.attributes import Classifier, malformed, read_attributes
from authz.stages.derive.bulk import Resolve, read_bulk
from authz.stages.derive.scim import read_patch

__all__ = ["Classifier", "derive", "malformed"]


def derive(
    classifier: Classifier, document: Mapping[str, Any], target: str, group: str | None, resolve: Resolve
) -> tuple[Action, ...]:
    """The actions of a request to ``classifier.route``, read from its ``document``."""
    route = classifier.route
    assert route.derive is not None
    if route.derive.reader == "scim-patch":
        return read_patch(classifier, document, target, group)
    if route.derive.reader == "scim-bulk":
        return read_bulk(document, route.path.rsplit("/", 1)[0], resolve)
    return read_attributes(classifier, document, target, group)
