"""One small exception hierarchy.

Setup failures raise early with the fix in the message; per-request failures are
data (see the load generator), never exceptions.
"""


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
