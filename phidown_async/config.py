"""Frozen settings: service endpoints, limits and credentials.

Environment variables and files are read only here, by the ``from_env``/``load`` helpers,
so the engine itself works on plain values.
"""

from __future__ import annotations

import netrc
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from math import inf
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConfigError, CredentialsError

DEFAULT_CATALOGUE_URL = "https://catalogue.dataspace.copernicus.eu/odata/v1"
DEFAULT_DOWNLOAD_URL = "https://download.dataspace.copernicus.eu/odata/v1"
DEFAULT_TOKEN_URL = (
    "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token"
)
DEFAULT_S3_ENDPOINT = "https://eodata.dataspace.copernicus.eu"
S3_KEYS_MANAGER_URL = "https://eodata-s3keysmanager.dataspace.copernicus.eu/"
CLIENT_ID = "cdse-public"
#: Connections a general CDSE account may hold at once.
DEFAULT_CONNECTIONS = 4
#: Bytes per second one connection of a general account carries at most (CDSE's cap).
CONNECTION_RATE = 20_000_000
#: Environment variables holding CDSE's S3 keys; the generic AWS ones are used only when S3
#: is asked for explicitly (they often belong to other work).
CDSE_S3_VARIABLES = ("CDSE_S3_ACCESS_KEY", "CDSE_S3_SECRET_KEY")
AWS_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
#: Workers beyond the connection budget (see `Limits`).
SPARE_WORKERS = 2
#: The lowest speed a body may arrive at (bytes/s), over `DEFAULT_SPEED_TIME` seconds.
DEFAULT_LOWEST_SPEED = 1000
DEFAULT_SPEED_TIME = 60.0


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@dataclass(frozen=True)
class Endpoints:
    """Where every request of the program goes.

    Example:
        >>> Endpoints().products_url
        'https://catalogue.dataspace.copernicus.eu/odata/v1/Products'
    """

    catalogue_url: str = DEFAULT_CATALOGUE_URL
    download_url: str = DEFAULT_DOWNLOAD_URL
    token_url: str = DEFAULT_TOKEN_URL
    s3_endpoint: str = DEFAULT_S3_ENDPOINT

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Endpoints:
        """Endpoints with ``PHIDOWN_*_URL`` / ``PHIDOWN_S3_ENDPOINT`` overrides applied."""
        env = os.environ if env is None else env
        return cls(
            catalogue_url=env.get("PHIDOWN_CATALOGUE_URL", DEFAULT_CATALOGUE_URL).rstrip("/"),
            download_url=env.get("PHIDOWN_DOWNLOAD_URL", DEFAULT_DOWNLOAD_URL).rstrip("/"),
            token_url=env.get("PHIDOWN_TOKEN_URL", DEFAULT_TOKEN_URL),
            s3_endpoint=env.get("PHIDOWN_S3_ENDPOINT", DEFAULT_S3_ENDPOINT).rstrip("/"),
        )

    @property
    def products_url(self) -> str:
        return f"{self.catalogue_url}/Products"

    @property
    def bursts_url(self) -> str:
        return f"{self.catalogue_url}/Bursts"

    @property
    def trusted_origins(self) -> frozenset[str]:
        """``scheme://host[:port]`` of the CDSE services that may receive the bearer token."""
        return frozenset({_origin(self.catalogue_url), _origin(self.download_url)})

    def is_trusted(self, url: str) -> bool:
        """True when ``url`` belongs to a configured CDSE host (token may be attached)."""
        return _origin(url) in self.trusted_origins


@dataclass(frozen=True)
class Limits:
    """How hard the engine may push the service.

    Attributes:
        connections: concurrent connections to CDSE for the whole run (the account quota;
            4 for general users), shared by search, downloads, bursts and S3.
        workers: concurrent download items in flight (each uses connections from the budget).
            Two more than the connections by default: a worker checking a finished file
            (zip, manifest) holds no connection, and the spare ones keep the budget busy.
        chunk_size: bytes read per network chunk when streaming.
        timeout: seconds of connect / read inactivity before a request is abandoned.
        lowest_speed, speed_time: a body arriving slower than ``lowest_speed`` bytes/s for
            ``speed_time`` seconds (stalled, or dripping too slowly for ``timeout`` to see)
            is abandoned and resumed by the next try, like curl's ``--speed-limit`` /
            ``--speed-time``; 0 in either turns the rule off.
    """

    connections: int = DEFAULT_CONNECTIONS
    workers: int = DEFAULT_CONNECTIONS + SPARE_WORKERS
    chunk_size: int = 1 << 20
    timeout: float = 60.0
    lowest_speed: int = DEFAULT_LOWEST_SPEED
    speed_time: float = DEFAULT_SPEED_TIME

    @classmethod
    def for_connections(cls, connections: int | None = None, workers: int | None = None) -> Limits:
        """Limits for a connection budget, with two more workers than connections by default.

        Args:
            connections: the connection budget (default 4, the general-user quota).
            workers: items in flight (default ``connections + 2``).

        Raises:
            ConfigError: a value is not a positive integer.

        Example:
            >>> Limits.for_connections(8).workers
            10
        """
        connections = DEFAULT_CONNECTIONS if connections is None else connections
        if workers is None:
            workers = connections + SPARE_WORKERS
        return cls(connections=connections, workers=workers)

    @property
    def spare(self) -> int:
        """Workers beyond the connections: items being checked while others transfer."""
        return max(0, self.workers - self.connections)

    def for_account(self, connections: int) -> Limits:
        """These limits for one account of ``connections``, with as many spare workers.

        Example:
            >>> Limits.for_connections(4).for_account(2).workers
            4
        """
        return replace(self, connections=connections, workers=connections + self.spare)

    def __post_init__(self) -> None:
        for name in ("connections", "workers", "chunk_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"Limits.{name} must be a positive integer, got {value!r}")
        if self.timeout <= 0:
            raise ConfigError(f"Limits.timeout must be positive, got {self.timeout!r}")
        speed = self.lowest_speed
        if isinstance(speed, bool) or not isinstance(speed, int) or speed < 0:
            raise ConfigError(
                f"Limits.lowest_speed must be a whole number of bytes/s (0: off), got {speed!r}"
            )
        window = self.speed_time
        if isinstance(window, bool) or not isinstance(window, int | float) or not 0 <= window < inf:
            raise ConfigError(
                f"Limits.speed_time must be a number of seconds (0: off), got {window!r}"
            )


@dataclass(frozen=True)
class Credentials:
    """CDSE account credentials; the password and TOTP never appear in repr or logs.

    Attributes:
        totp: the current code of an account with two-factor authentication, sent with the
            password grant (a code lives about 30 s; the login then lasts as long as CDSE
            keeps refreshing it, so a long run needs no new code).
    """

    username: str
    password: str = field(repr=False)
    totp: str | None = field(default=None, repr=False)

    @classmethod
    def given(
        cls, username: str, password: str, env: Mapping[str, str] | None = None
    ) -> Credentials:
        """An account given in code, with its two-factor code from ``CDSE_TOTP`` if set."""
        env = os.environ if env is None else env
        return cls(username, password, env.get("CDSE_TOTP") or None)

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        netrc_path: str | Path | None = None,
        host: str = "identity.dataspace.copernicus.eu",
        *,
        totp: str | None = None,
    ) -> Credentials:
        """Credentials from ``CDSE_USERNAME``/``CDSE_PASSWORD``, else ``~/.netrc``; the
        two-factor code from ``totp``, else ``CDSE_TOTP``.

        Raises:
            CredentialsError: neither source has them.
        """
        env = os.environ if env is None else env
        totp = totp or env.get("CDSE_TOTP") or None
        user, password = env.get("CDSE_USERNAME"), env.get("CDSE_PASSWORD")
        if user and password:
            return cls(user, password, totp)
        path = Path(netrc_path) if netrc_path else Path.home() / ".netrc"
        if path.exists():
            try:
                entry = netrc.netrc(str(path)).authenticators(host)
            except netrc.NetrcParseError as exc:
                # The parser's message quotes the token it choked on, which may be part of a
                # password: name the file and the line only.
                raise CredentialsError(
                    f"Could not read {path}: line {exc.lineno} is not valid netrc syntax "
                    "(a password with spaces must be in double quotes)."
                ) from None
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
                raise CredentialsError(f"Could not read {path}: {reason}.") from None
            if entry and entry[0] and entry[2]:
                return cls(entry[0], entry[2], totp)
        raise CredentialsError(
            "No CDSE credentials found: set CDSE_USERNAME and CDSE_PASSWORD, "
            f"or add 'machine {host} login <user> password <password>' to ~/.netrc. "
            "An account with two-factor authentication also needs its current code in "
            "CDSE_TOTP (on the command line, --totp)."
        )


@dataclass(frozen=True)
class S3Keys:
    """S3 access keys for the ``eodata`` bucket; the secret never appears in repr or logs."""

    access_key: str
    secret_key: str = field(repr=False)
    endpoint_url: str | None = None

    @classmethod
    def from_s5cfg(cls, path: str | Path) -> S3Keys:
        """Keys from phidown's ``.s5cfg`` INI file (``[default]`` section).

        Raises:
            CredentialsError: the file is missing or lacks the keys.
        """
        path = Path(path)
        if not path.is_file():
            raise CredentialsError(f"S3 config file not found: {path}")
        import configparser  # here, not at every start: only a .s5cfg file needs it

        parser = configparser.ConfigParser()
        try:
            parser.read(path)
        except configparser.Error as exc:
            raise CredentialsError(f"S3 config file {path} is not valid INI: {exc}") from None
        section = parser["default"] if parser.has_section("default") else None
        access = section.get("aws_access_key_id") if section else None
        secret = section.get("aws_secret_access_key") if section else None
        if not access or not secret:
            raise CredentialsError(
                f"S3 config file {path} needs aws_access_key_id and aws_secret_access_key "
                "in its [default] section."
            )
        endpoint = section.get("host_base") if section else None
        if endpoint and "://" not in endpoint:
            endpoint = f"https://{endpoint}"
        return cls(access, secret, endpoint)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, generic: bool = True
    ) -> S3Keys | None:
        """Keys from ``CDSE_S3_ACCESS_KEY``/``CDSE_S3_SECRET_KEY``, else (with ``generic``)
        from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, or None when unset."""
        found = cls._from_variables(env, generic)
        return found[0] if found else None

    @classmethod
    def _from_variables(
        cls, env: Mapping[str, str] | None, generic: bool
    ) -> tuple[S3Keys, str] | None:
        env = os.environ if env is None else env
        for names in (CDSE_S3_VARIABLES, AWS_VARIABLES) if generic else (CDSE_S3_VARIABLES,):
            access, secret = env.get(names[0]), env.get(names[1])
            if access and secret:
                return cls(access, secret), " / ".join(names)
        return None

    @classmethod
    def find(
        cls, config_file: str | Path | None = ".s5cfg", env: Mapping[str, str] | None = None
    ) -> S3Keys | None:
        """Keys for an explicit S3 download: ``config_file`` when it exists, else the CDSE_S3_
        variables, else the AWS variables (S3 was asked for, so they are taken as CDSE's)."""
        found = cls.locate(config_file, env)
        return found[0] if found else None

    @classmethod
    def locate(
        cls,
        config_file: str | Path | None = ".s5cfg",
        env: Mapping[str, str] | None = None,
        *,
        generic: bool = True,
    ) -> tuple[S3Keys, str] | None:
        """The keys `find` finds and where they came from (the file, or the variables).

        Args:
            generic: also take ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``. Those often
                belong to other work than CDSE, so an automatic transport choice passes False.
        """
        if config_file and Path(config_file).is_file():
            return cls.from_s5cfg(config_file), str(config_file)
        return cls._from_variables(env, generic)

    @classmethod
    def require(
        cls, config_file: str | Path | None = ".s5cfg", env: Mapping[str, str] | None = None
    ) -> S3Keys:
        """The keys `find` finds.

        Raises:
            CredentialsError: there are none; the message says where to put them, and that
                HTTPS with the CDSE account needs none.
        """
        keys = cls.find(config_file, env)
        if keys is None:
            raise cls.missing(config_file)
        return keys

    @staticmethod
    def missing(config_file: str | Path | None = ".s5cfg") -> CredentialsError:
        """The error for S3 asked for without keys: where to put them, and that HTTPS
        with the CDSE account needs none."""
        return CredentialsError(
            f"No S3 keys found: put them in {config_file or '.s5cfg'} ([default] "
            "aws_access_key_id, aws_secret_access_key) or set CDSE_S3_ACCESS_KEY and "
            f"CDSE_S3_SECRET_KEY (create them at {S3_KEYS_MANAGER_URL}); or download "
            "over HTTPS with the CDSE account (transport='https', on the command line "
            "--transport https)."
        )
