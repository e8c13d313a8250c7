"""Several CDSE accounts for one run: `Account` values and the TOML file that lists them.

An accounts file has one ``[[account]]`` table per account. It names where the credentials
are, never the credentials themselves::

    [[account]]
    name = "alice"
    username_env = "ALICE_CDSE_USERNAME"   # names of environment variables
    password_env = "ALICE_CDSE_PASSWORD"
    connections = 4                        # the account's quota (default 4)

    [[account]]
    name = "bob"
    netrc_machine = "bob.cdse"             # or a machine of ~/.netrc

Every problem is one sentence naming the file and the account: a ``username``/``password``
key (refused: a file of secrets gets copied around), an unset variable, an empty file, two
accounts with one name, fewer than one connection.
"""

from __future__ import annotations

import netrc
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .config import DEFAULT_CONNECTIONS, Credentials
from .errors import ConfigError, CredentialsError

__all__ = ["Account", "CredentialSource", "check_accounts", "load_accounts"]

_KEYS = frozenset({"name", "username_env", "password_env", "netrc_machine", "connections"})
_SECRETS = ("username", "password")


@dataclass(frozen=True)
class CredentialSource:
    """Where an account's credentials are, never the credentials themselves: the names of
    two environment variables, or a netrc machine; neither means ``CDSE_USERNAME`` and
    ``CDSE_PASSWORD``, else the identity host's entry of ``~/.netrc`` (`Credentials.from_env`).

    A cluster's workers get this, not the credentials, and read them in their own process
    (nothing secret passes through the scheduler).
    """

    username_env: str | None = None
    password_env: str | None = None
    netrc_machine: str | None = None

    def read(
        self,
        env: Mapping[str, str] | None = None,
        netrc_path: str | Path | None = None,
        *,
        where: str = "this account",
    ) -> Credentials:
        """The credentials, read now from ``env`` (default ``os.environ``) or the netrc file.

        Args:
            where: what an error message names first (the account, and where it is read).

        Raises:
            CredentialsError: a variable is unset, or the netrc has no such machine.
        """
        env = os.environ if env is None else env
        if self.netrc_machine:
            return _from_netrc(where, self.netrc_machine, netrc_path)
        if self.username_env and self.password_env:
            return Credentials(
                _variable(where, env, self.username_env), _variable(where, env, self.password_env)
            )
        return Credentials.from_env(env, netrc_path)


@dataclass(frozen=True)
class Account:
    """One CDSE account of a run.

    Attributes:
        name: how results, events and the ledger name the account (never the user name).
        credentials: its login.
        connections: its concurrent-connection quota (CDSE general users: 4).
        source: where ``credentials`` were read (`load_accounts` sets it); a cluster's
            workers read them again from there. None: given in code, for one process only.

    Raises:
        ConfigError: an empty name or fewer than one connection.
    """

    name: str
    credentials: Credentials
    connections: int = DEFAULT_CONNECTIONS
    source: CredentialSource | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ConfigError("an account needs a non-empty name")
        value = self.connections
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(
                f"account {self.name!r}: connections must be a whole number of at least 1, "
                f"got {value!r}"
            )


def check_accounts(accounts: Iterable[Account]) -> tuple[Account, ...]:
    """``accounts`` as a tuple, once checked: at least one, names unique.

    Raises:
        ConfigError: no account, or two with one name.
    """
    found = tuple(accounts)
    if not found:
        raise ConfigError("no accounts given")
    seen: set[str] = set()
    for account in found:
        if account.name in seen:
            raise ConfigError(f"two accounts are named {account.name!r}; names must be unique")
        seen.add(account.name)
    return found


def load_accounts(
    path: str | Path,
    env: Mapping[str, str] | None = None,
    netrc_path: str | Path | None = None,
) -> tuple[Account, ...]:
    """The accounts of a TOML accounts file, their credentials read now.

    Args:
        path: the file (see the module docstring).
        env: where ``username_env``/``password_env`` are looked up (default ``os.environ``).
        netrc_path: the netrc file for ``netrc_machine`` (default ``~/.netrc``).

    Raises:
        ConfigError: the file cannot be read, is not TOML, lists no account, holds a
            ``username``/``password`` key, an unknown key, a duplicate name or fewer than
            one connection.
        CredentialsError: a named variable is unset, or the netrc has no such machine.

    Example:
        accounts = load_accounts("accounts.toml")
    """
    import tomllib  # here, not at every start (4 ms): only an accounts file needs it

    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read {path}: it is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    tables = data.get("account")
    extra = sorted(set(data) - {"account"})
    if extra:
        raise ConfigError(f"{path}: unknown key {extra[0]!r}; accounts go in [[account]] tables")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(f"{path} lists no accounts: add one [[account]] table per account")
    env = os.environ if env is None else env
    accounts = [_account(path, index, table, env, netrc_path) for index, table in enumerate(tables)]
    try:
        return check_accounts(accounts)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _account(
    path: Path,
    index: int,
    table: object,
    env: Mapping[str, str],
    netrc_path: str | Path | None,
) -> Account:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: account {index + 1} is not a table")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{path}: account {index + 1} has no name")
    where = f"{path}: account {name!r}"
    for key in _SECRETS:
        if key in table:
            raise ConfigError(
                f"{where} has a {key!r} key; the file must not hold credentials: name "
                "environment variables (username_env, password_env) or a netrc_machine"
            )
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})"
        )
    connections = table.get("connections", DEFAULT_CONNECTIONS)
    machine = table.get("netrc_machine")
    names = (table.get("username_env"), table.get("password_env"))
    if machine is not None and any(names):
        raise ConfigError(
            f"{where}: give username_env and password_env, or netrc_machine, not both"
        )
    if machine is not None:
        if not isinstance(machine, str) or not machine:
            raise ConfigError(f"{where}: netrc_machine must be a host name")
        credentials = _from_netrc(where, machine, netrc_path)
        source = CredentialSource(netrc_machine=machine)
    elif all(isinstance(n, str) and n for n in names):
        credentials = Credentials(*(_variable(where, env, str(n)) for n in names))
        source = CredentialSource(str(names[0]), str(names[1]))
    else:
        raise ConfigError(f"{where} needs username_env and password_env, or netrc_machine")
    try:
        return Account(name, credentials, connections, source)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _variable(where: str, env: Mapping[str, str], name: str) -> str:
    value = env.get(name)
    if not value:
        raise CredentialsError(f"{where}: environment variable {name} is not set")
    return value


def _from_netrc(where: str, machine: str, netrc_path: str | Path | None) -> Credentials:
    path = Path(netrc_path) if netrc_path else Path.home() / ".netrc"
    try:
        entry = netrc.netrc(str(path)).authenticators(machine)
    except netrc.NetrcParseError as exc:
        # The parser's message may quote part of a password: name the line only.
        raise CredentialsError(
            f"{where}: line {exc.lineno} of {path} is not valid netrc syntax"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise CredentialsError(f"{where}: cannot read {path}: {reason}") from None
    if not entry or not entry[0] or not entry[2]:
        raise CredentialsError(f"{where}: {path} has no login and password for machine {machine}")
    return Credentials(entry[0], entry[2])
