"""Open311's own error: an HTTP status and one or more stable English descriptions (doc §10). Pure."""

from __future__ import annotations

from collections.abc import Iterable

# The descriptions clients see for the fixed cases of the error table; callers use these, not free text.
NOT_FOUND = "not found"
JURISDICTION_NOT_FOUND = "jurisdiction_id not found"
SERVICE_NOT_FOUND = "service_code not found"
REQUEST_NOT_FOUND = "service_request_id not found"
TOKEN_NOT_FOUND = "token not found"  # noqa: S105 - a message, not a secret
BAD_KEY = "api_key missing or invalid"
KEY_NOT_PERMITTED = "api_key not permitted for service_code"
INTERNAL = "internal error"


class Open311Error(Exception):
    """Raised anywhere in the adapter; the route renders it in the requested format."""

    def __init__(self, status: int, descriptions: str | Iterable[str]) -> None:
        self.status = status
        self.descriptions = [descriptions] if isinstance(descriptions, str) else list(descriptions)
        if not self.descriptions:
            raise ValueError("an Open311 error needs at least one description")
        super().__init__("; ".join(self.descriptions))


def bad_request(*descriptions: str) -> Open311Error:
    return Open311Error(400, descriptions)


def not_found(description: str = NOT_FOUND) -> Open311Error:
    return Open311Error(404, description)
