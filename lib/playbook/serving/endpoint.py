"""An OpenAI-compatible endpoint as every client sees it: where, which model, which key.

The key is resolved once, from the variable the profile names (never the key itself),
and travels with the endpoint instead of through every function's signature.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from playbook.core.errors import PlaybookError
from playbook.core.profiles import Profile


@dataclass(frozen=True)
class Endpoint:
    base_url: str  # the server root, without /v1
    model: str  # the served model name requests carry
    api_key: str | None = field(default=None, repr=False)  # repr=False: never printed into a report

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise PlaybookError(f"base_url must start with http:// or https://, got {self.base_url!r}")

    def with_model(self, model: str) -> Endpoint:
        """The same server, requests naming another model (an adapter, or the base beside its adapters)."""
        return Endpoint(self.base_url, model, self.api_key)

    @property
    def api_url(self) -> str:
        return self.base_url.rstrip("/") + "/v1"

    @property
    def headers(self) -> dict[str, str]:
        return auth_headers(self.api_key)


def api_key(profile: Profile) -> str | None:
    """The API key named by ``server.api_key_env``."""
    return key_from_env(profile.server.api_key_env, "server.api_key_env")


def key_from_env(variable: str | None, setting: str) -> str | None:
    """The key in the named variable; a name given but unset (or empty) is an error naming ``setting``, never a
    request sent without the key."""
    if not variable:
        return None
    value = os.environ.get(variable)
    if not value:
        raise PlaybookError(f"{setting} names {variable}, but that environment variable is not set (or is empty)")
    return value


def auth_headers(api_key: str | None) -> dict[str, str]:
    """The bearer header every client of an OpenAI-compatible server sends (none without a key)."""
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}
