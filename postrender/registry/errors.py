"""Registry failures: one line that names the image and says what to do."""

from __future__ import annotations

from postrender.errors import EXIT_CHECK_FAILED, PostrenderError


class RegistryError(PostrenderError):
    """A registry request failed for good (after retries); the message names host and cause.

    Exit 1 like a failed check: the config and input were fine, the registry said no.
    """

    exit_code = EXIT_CHECK_FAILED
