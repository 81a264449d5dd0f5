"""One error hierarchy, one boundary.

Every failure a user can cause is a :class:`PostrenderError` carrying the exit code the CLI
returns.  The message is one line and says where (file/document/line) and what to do; the CLI is
the only place that prints it (see ``runner.boundary``).  Exit codes, as documented in the
README: 0 ok, 1 a check failed, 2 usage or config error, 3 input is not a valid manifest stream.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_INTERRUPTED = 130


class PostrenderError(Exception):
    exit_code = EXIT_USAGE

    def __init__(self, message: str):
        from postrender.engine.redaction import redact_known

        # Collapse to one line: a message is printed as exactly one line on stderr.  Secrets are
        # redacted first, while a tab or line break inside one still looks as it did.
        super().__init__(" ".join(redact_known(str(message)).split()))

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(PostrenderError):
    """The config file, a values file or a --set/--set-file argument is wrong (exit 2)."""

    exit_code = EXIT_USAGE


class UsageError(PostrenderError):
    exit_code = EXIT_USAGE


class InputError(PostrenderError):
    """The manifest stream on stdin cannot be read as Kubernetes YAML (exit 3)."""

    exit_code = EXIT_BAD_INPUT


class RuleError(PostrenderError):
    """A rule cannot be applied to a document (exit 3: it is the input that does not fit)."""

    exit_code = EXIT_BAD_INPUT


class CheckFailed(PostrenderError):
    """A check rule (e.g. allowedRegistries with action: error) found problems (exit 1)."""

    exit_code = EXIT_CHECK_FAILED
