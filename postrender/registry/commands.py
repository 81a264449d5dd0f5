"""``lock`` and ``mirror`` from a loaded config and an input stream (cli.py declares the options)."""

from __future__ import annotations

from dataclasses import dataclass

from postrender.errors import UsageError
from postrender.registry.auth import CredentialStore, from_variables, normalize_host
from postrender.registry.client import Client, Options
from postrender.registry.errors import RegistryError
from postrender.registry.media import Platform

# The pullSecret rule's credential names (rules/pull_secret.py CREDENTIALS).
PULL_SECRET_NAMES = ("registry", "username", "password", "auth", "dockerconfigjson")


@dataclass
class RegistryOptions:
    ca_file: str | None
    insecure: list[str]
    jobs: int

    def client_options(self) -> Options:
        if self.jobs < 1 or self.jobs > 64:
            raise UsageError(f"--jobs {self.jobs}: use 1 to 64")
        return Options(ca_file=self.ca_file, insecure=frozenset(normalize_host(h) for h in self.insecure),
                       jobs=self.jobs)


def pull_secret_credentials(config) -> dict:
    """The credentials the config's pullSecret rules would put in the cluster (their
    ``credentials:`` mapping resolved), else the variables with the default names."""
    values_list = [rule.context for rule in config.rules if rule.name == "pullSecret"]
    if not values_list:
        values_list = [{k: config.variables.get(k) for k in PULL_SECRET_NAMES}]
    out: dict = {}
    for values in values_list:
        for host, cred in from_variables(values).items():
            out.setdefault(host, cred)
    return out


def open_client(config, options: RegistryOptions) -> Client:
    store = CredentialStore(pull_secret_credentials(config))
    return Client(options.client_options(), store)


def lock(config, data: bytes, options: RegistryOptions, verify: bool, emit):
    """Resolve and return (Lock, error lines)."""
    from postrender.registry.lock import resolve
    from postrender.registry.plan import lock_stages

    staged = lock_stages(config, data)
    _report_stage(staged, emit)
    with open_client(config, options) as client:
        outcome = resolve(staged.pairs, client, options.jobs, verify=verify)
    return outcome


def mirror(config, data: bytes, options: RegistryOptions, dry_run: bool, fmt: str, platforms: list[str], emit):
    """Returns (text to print or None, Summary or None, plan errors)."""
    from postrender.registry.mirror import copy_all, plan, render_plan
    from postrender.registry.plan import mirror_stages

    try:
        wanted = [Platform.parse(p) for p in platforms]
    except ValueError as exc:
        raise UsageError(f"--platform {exc}") from None
    client_options = options.client_options()
    staged = mirror_stages(config, data)
    _report_stage(staged, emit)
    copies, errors = plan(staged)
    if dry_run:
        return render_plan(copies, fmt, client_options.insecure), None, errors
    with open_client(config, options) as client:
        summary = copy_all(copies, client, options.jobs, wanted)
    return None, summary, errors


def _report_stage(staged, emit) -> None:
    from postrender.runner import _CheckExit

    for warning in staged.warnings:
        emit(f"postrender: warning: {warning}")
    if staged.failures:
        for failure in staged.failures:
            emit(f"postrender: check failed: {failure}")
        raise _CheckExit(len(staged.failures))


__all__ = ["RegistryError", "RegistryOptions", "lock", "mirror"]
