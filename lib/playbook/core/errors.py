"""One small exception hierarchy.

Setup failures raise early with the fix in the message; per-request failures are
data (see the load generator), never exceptions.
"""

from __future__ import annotations

from pydantic import ValidationError


class PlaybookError(Exception):
    """Base class of every error the playbook raises on purpose."""


class ProfileError(PlaybookError):
    """A profile file or override is malformed; the message names the key."""


class ModelPrepareError(PlaybookError):
    """A model folder could not be prepared (package missing, bad GGUF, ...)."""


class PreflightError(PlaybookError):
    """The memory pre-flight refused the configuration before launch."""


class ServerStartError(PlaybookError):
    """An engine server did not become healthy; the message carries its log tail."""


class EngineNotInstalledError(PlaybookError):
    """An optional engine's interpreter is missing; the message says how to install it."""


class ValidationFailed(PlaybookError):
    """A validation step ran and its result is below the profile's threshold."""


class OutputNotWritableError(PlaybookError):
    """The outputs folder cannot be written; raised before anything runs."""


class EngineFeatureMissing(PlaybookError):
    """The server answered without something a measurement needs (token ids, prompt logprobs): another
    engine, or an older release, than the measurement was written for."""


def first_problem(exc: ValidationError) -> str:
    """``where: what`` of a validation error's first problem, the one line a reader acts on (a result file, a run
    manifest, a saved baseline all say what is wrong this way)."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]
