"""phidown's download calls (products, bursts, one burst on demand), on the async engine.

Signatures and return shapes are phidown's (``reference/phidown-spec.md`` sections 11-12);
the work is done by :mod:`phidown_async.download` through the blocking portal, so a list of
products or bursts is fetched concurrently within the account's connection budget, resumed
after interruptions and verified before it counts as done.

Transport: phidown always uses S3, which needs S3 keys most CDSE users do not have. Here
``transport=None`` picks S3 when CDSE S3 keys are available (the ``.s5cfg`` file exists, or
``CDSE_S3_ACCESS_KEY`` / ``CDSE_S3_SECRET_KEY`` are set) and HTTPS with the CDSE account
otherwise (`choose_transport`); the generic AWS variables never pick S3 by themselves.
``"s3"`` (which also takes the AWS variables as keys) or ``"https"`` forces one. Verbose
calls print which transport was chosen and why; ``download_products`` says which in its
result (``'transport'``).

Several accounts: ``download_products`` and ``download_bursts`` take ``accounts=`` (a TOML
accounts file, see `phidown_async.account_list`, or `Account` values); each item then goes
to whichever account has a free connection, over HTTPS.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..account_list import Account, check_accounts, load_accounts
from ..auth import StaticToken
from ..config import Credentials, Endpoints, Limits
from ..download import download_products as _download_https
from ..download.bursts import download_bursts as _download_bursts
from ..download.results import RunSummary
from ..download.transports import TransportChoice, choose_transport
from ..errors import AuthError, CredentialsError
from ..events import Event, ItemFailed, ItemStarted, ItemVerified, RetryScheduled, discard
from ..portal import run_sync
from ..retry import RetryPolicy
from ..session import Session
from .tokens import TokenManager

_MODES = ("fast", "safe")


def _accounts(accounts: str | Path | Sequence[Account] | None) -> tuple[Account, ...]:
    """The accounts of a call: none, those of a TOML file, or the given ones (checked)."""
    if accounts is None:
        return ()
    if isinstance(accounts, str | Path):
        return load_accounts(accounts)
    return check_accounts(accounts)


def _empty_summary() -> dict[str, Any]:
    return {"downloaded": 0, "failed": 0, "skipped": 0, "details": []}


class _Printer:
    """Renders engine events as phidown-style lines (the facade may print; the engine not)."""

    def __init__(self, verbose: bool) -> None:
        self.verbose = verbose
        self.names: dict[str, str] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, ItemStarted):
            self.names[event.item] = event.name
            if self.verbose:
                resumed = f" (resuming at {event.resume_from} bytes)" if event.resume_from else ""
                print(f"📥 Downloading {event.name}{resumed}...")
        elif not self.verbose:
            return
        elif isinstance(event, ItemVerified):
            print(f"✅ {self.names.get(event.item, event.item)}: verified ({event.size} bytes)")
        elif isinstance(event, RetryScheduled):
            name = self.names.get(event.item, event.item)
            print(f"⚠️  {name}: retry {event.attempt} in {event.delay:.1f}s ({event.reason})")
        elif isinstance(event, ItemFailed):
            print(f"❌ {self.names.get(event.item, event.item)}: {event.reason}")


async def _run_products(
    frame: pd.DataFrame | list,
    output_dir: Path,
    transport: TransportChoice,
    retry: RetryPolicy,
    limits: Limits,
    verify: bool,
    sink: Callable[[Event], None],
    accounts: tuple[Account, ...] = (),
) -> RunSummary:
    if accounts:
        return await _download_https(
            frame,
            output_dir,
            accounts=accounts,
            endpoints=Endpoints.from_env(),
            limits=limits,
            retry=retry,
            verify=verify,
            sink=sink,
        )
    if transport.keys is not None:
        from ..download.s3 import download_products_s3  # aiobotocore only when S3 is used

        return await download_products_s3(
            frame, output_dir, keys=transport.keys, limits=limits, retry=retry, sink=sink
        )
    async with _account_session(Credentials.from_env(), limits, retry, sink) as session:
        return await _download_https(frame, output_dir, session=session, verify=verify, sink=sink)


def _account_session(
    credentials: Credentials,
    limits: Limits = Limits(),  # noqa: B008 - frozen value
    retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen value
    sink: Callable[[Event], None] | None = None,
    verify_tls: bool = True,
) -> Session:
    """A session for one facade call that shares the process's login for the account: a
    loop of calls makes one password grant, then refresh grants."""
    return Session(
        Endpoints.from_env(),
        credentials,
        limits=limits,
        retry=retry,
        sink=sink or discard,
        verify_tls=verify_tls,
        share_login=True,
    )


def _product_details(summary: RunSummary) -> list[dict[str, Any]]:
    details = []
    for result in summary.results:
        if result.status == "downloaded":
            details.append({"name": result.name, "status": "success", "path": str(result.path)})
        elif result.status == "skipped":
            details.append(
                {
                    "name": result.name,
                    "status": "skipped",
                    "reason": result.reason or "already_downloaded",
                }
            )
        else:
            details.append({"name": result.name, "status": "failed", "error": result.reason})
    return details


def _counts(summary: RunSummary, details: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "downloaded": summary.downloaded,
        "failed": summary.failed,
        "skipped": summary.skipped,
        "details": details,
    }


def _print_totals(summary: RunSummary) -> None:
    print(
        f"📊 Download complete: {summary.downloaded} succeeded, {summary.failed} failed, "
        f"{summary.skipped} skipped"
    )


class DownloadMethods:
    """The download methods of ``CopernicusDataSearcher`` (mixed into it)."""

    df: pd.DataFrame | None
    last_download_path: str | None
    query_by_name: Callable[[str], pd.DataFrame]

    def download_product(
        self,
        eo_product_name: str,
        output_dir: str | Path,
        config_file: str = ".s5cfg",
        verbose: bool = True,
        show_progress: bool = True,
        *,
        transport: str | None = None,
        retry_count: int = 3,
    ) -> bool:
        """Download one product by name; True when it is verified on disk (or already was).

        Args:
            eo_product_name: the product's Name.
            output_dir: where it goes (a ``<Name>.zip`` over HTTPS, a ``<Name>`` folder over S3).
            config_file: phidown's ``.s5cfg`` with S3 keys (used when it exists).
            verbose: print progress lines.
            show_progress: accepted for phidown compatibility (lines are printed when verbose).
            transport: ``"https"``, ``"s3"`` or None (S3 when CDSE S3 keys are available).
            retry_count: tries per request.

        Raises:
            CredentialsError: the chosen transport has no credentials.
        """
        self.last_download_path = None
        found = self.query_by_name(eo_product_name)
        if found is None or found.empty:
            print(f"No product found with name: {eo_product_name}")
            return False
        chosen = choose_transport(transport, config_file)
        out = Path(output_dir).absolute()
        if verbose:
            print(f"Downloading product: {eo_product_name}")
            print(f"Output directory: {out}")
            print(f"Transport: {chosen.name.upper()} ({chosen.reason})")
        summary = run_sync(
            _run_products,
            found.head(1),
            out,
            chosen,
            RetryPolicy(attempts=max(1, int(retry_count))),
            Limits.for_connections(),
            True,
            _Printer(verbose),
        )
        result = summary.results[0]
        if result.status in ("downloaded", "skipped") and result.path is not None:
            self.last_download_path = str(result.path)
        return result.status in ("downloaded", "skipped")

    def download_products(
        self,
        df: pd.DataFrame | None = None,
        output_dir: str | Path = ".",
        config_file: str = ".s5cfg",
        mode: str = "fast",
        retry_count: int = 3,
        validate: bool = True,
        verbose: bool = True,
        show_progress: bool = True,
        *,
        transport: str | None = None,
        workers: int | None = None,
        connections: int | None = None,
        accounts: str | Path | Sequence[Account] | None = None,
    ) -> dict[str, Any]:
        """Download every product of ``df`` (default: the last results), concurrently.

        Args:
            df: search results (needs ``Id`` and ``Name``; ``S3Path`` for S3).
            output_dir: where products go.
            config_file: phidown's ``.s5cfg`` with S3 keys (used when it exists).
            mode: phidown's ``fast``/``safe``; both are resumable and verified here.
            retry_count: tries per request.
            validate: check every file against ``manifest.safe`` (size and checksum are
                always checked).
            verbose: print a line per item and the totals.
            show_progress: accepted for phidown compatibility.
            transport: ``"https"``, ``"s3"`` or None (S3 when CDSE S3 keys are available).
            workers, connections: items in flight (default: connections + 2) and the
                connection budget (default 4, the CDSE general-user quota).
            accounts: several CDSE accounts (a TOML accounts file or `Account` values);
                each product goes to the one with a free connection, over HTTPS, and
                each account uses its own ``connections``.

        Returns:
            ``{'downloaded', 'failed', 'skipped', 'details', 'transport'}``; each detail is
            ``{'name', 'status': 'success'|'skipped'|'failed', ...}``.

        Raises:
            ValueError: ``mode must be either 'fast' or 'safe'``, or ``accounts`` with
                ``transport="s3"``.
            CredentialsError: the chosen transport has no credentials, or an account's
                variables are unset.
            ConfigError: the accounts file or the accounts are unusable.
        """
        data = df if df is not None else self.df
        if data is None or len(data) == 0:
            return _empty_summary()
        if mode not in _MODES:
            raise ValueError("mode must be either 'fast' or 'safe'")
        listed = _accounts(accounts)
        if listed and transport == "s3":
            raise ValueError("accounts share a download over HTTPS; S3 uses keys")
        chosen = choose_transport("https" if listed else transport, config_file)
        out = Path(output_dir).absolute()
        if verbose:
            print(
                f"Downloading {len(data)} products to {out} over {chosen.name.upper()} "
                f"({chosen.reason})"
            )
        summary = run_sync(
            _run_products,
            data,
            out,
            chosen,
            RetryPolicy(attempts=max(1, int(retry_count))),
            Limits.for_connections(connections, workers),
            validate,
            _Printer(verbose),
            listed,
        )
        if verbose:
            _print_totals(summary)
        return {**_counts(summary, _product_details(summary)), "transport": chosen.name}

    def download_bursts(
        self,
        df: pd.DataFrame | None = None,
        output_dir: str | Path = ".",
        username: str | None = None,
        password: str | None = None,
        retry_count: int = 3,
        verbose: bool = True,
        *,
        workers: int | None = None,
        connections: int | None = None,
        accounts: str | Path | Sequence[Account] | None = None,
    ) -> dict[str, Any]:
        """Download every burst of ``df`` on demand, concurrently within the quota.

        Args:
            df: burst search results (default: the last results).
            output_dir: where the burst zips go.
            username, password: the CDSE account (default: ``CDSE_USERNAME`` /
                ``CDSE_PASSWORD`` or ``~/.netrc``).
            retry_count: tries per request.
            verbose: print a line per burst and the totals.
            workers, connections: bursts in flight (default: connections + 2) and the
                connection budget (default 4).
            accounts: several CDSE accounts instead of one (a TOML accounts file or
                `Account` values); each burst goes to the one with a free connection.

        Returns:
            ``{'downloaded', 'failed', 'skipped', 'details'}``; each detail is
            ``{'burst_id', 'burst_num', 'status', ...}``.

        Raises:
            ValueError: no credentials given or found.
            ConfigError: the accounts file or the accounts are unusable.
        """
        data = df if df is not None else self.df
        if data is None or len(data) == 0:
            return _empty_summary()
        listed = _accounts(accounts)
        credentials = None if listed else _burst_credentials(username, password)
        out = Path(output_dir).absolute()
        if verbose:
            print("🔐 Authenticating with CDSE...")
        summary = run_sync(
            _run_bursts,
            data,
            out,
            credentials,
            RetryPolicy(attempts=max(1, int(retry_count))),
            Limits.for_connections(connections, workers),
            _Printer(verbose),
            listed,
        )
        numbers = _burst_numbers(data)
        details = []
        for result in summary.results:
            detail: dict[str, Any] = {
                "burst_id": result.id or None,
                "burst_num": numbers.get(result.id, "unknown"),
            }
            if result.status == "downloaded":
                detail.update(status="success", path=str(result.path))
            elif result.status == "skipped":
                detail.update(status="skipped", reason=result.reason or "already_downloaded")
            else:
                detail.update(status="failed", error=result.reason)
            details.append(detail)
        if verbose:
            _print_totals(summary)
        return _counts(summary, details)


def _burst_credentials(username: str | None, password: str | None) -> Credentials:
    if username is not None and password is not None:
        return Credentials.given(username, password)
    try:
        return Credentials.from_env()
    except CredentialsError:
        raise ValueError(
            "CDSE username and password are required for burst downloads. "
            "Register at https://dataspace.copernicus.eu/"
        ) from None


def _burst_numbers(data: pd.DataFrame | list) -> dict[str, Any]:
    if isinstance(data, pd.DataFrame) and {"Id", "BurstId"} <= set(data.columns):
        return dict(zip(data["Id"].astype(str), data["BurstId"], strict=True))
    return {}


async def _run_bursts(
    data: Any,
    out: Path,
    credentials: Credentials | None,
    retry: RetryPolicy,
    limits: Limits,
    sink: Callable[[Event], None],
    accounts: tuple[Account, ...] = (),
) -> RunSummary:
    if credentials is None:  # several accounts
        return await _download_bursts(
            data,
            out,
            accounts=accounts,
            endpoints=Endpoints.from_env(),
            limits=limits,
            retry=retry,
            sink=sink,
        )
    async with _account_session(credentials, limits, retry, sink) as session:
        return await _download_bursts(data, out, session=session, sink=sink)


async def _one_burst(
    burst_id: str, token: str | TokenManager, out: Path, verify_tls: bool, retry: RetryPolicy
) -> RunSummary:
    if isinstance(token, TokenManager):
        credentials = Credentials.given(token.username, token.password)
        session = _account_session(credentials, retry=retry, verify_tls=verify_tls)
    else:
        session = Session(
            Endpoints.from_env(), tokens=StaticToken(token), retry=retry, verify_tls=verify_tls
        )
    async with session:
        return await _download_bursts([burst_id], out, session=session)


def download_burst_on_demand(
    burst_id: str,
    token: str | TokenManager,
    output_dir: Path,
    insecure_skip_verify: bool = False,
    connect_timeout: float = 30,
    read_timeout: float | None = None,
    retry_count: int = 1,
) -> None:
    """Process one Sentinel-1 burst on demand and save its zip in ``output_dir``.

    Args:
        burst_id: the burst's Id (a UUID).
        token: an access token, or a ``TokenManager`` (refreshed on 401).
        output_dir: where the zip goes (created when missing); its name comes from the
            server and can never leave this folder.
        insecure_skip_verify: turn off TLS certificate checks (don't, outside tests).
        connect_timeout, read_timeout: accepted for phidown compatibility.
        retry_count: tries per request.

    Raises:
        ValueError: ``Burst ID is required!``, ``Keycloak token is required!``,
            ``Burst ID is not a valid UUID!``.
        RuntimeError: ``Failed to process burst: ...`` with the reason.
    """
    if not burst_id:
        raise ValueError("Burst ID is required!")
    if not token:
        raise ValueError("Keycloak token is required!")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        uuid.UUID(str(burst_id))
    except ValueError:
        raise ValueError("Burst ID is not a valid UUID!") from None
    try:
        summary = run_sync(
            _one_burst,
            str(burst_id),
            token,
            out.absolute(),
            not insecure_skip_verify,
            RetryPolicy(attempts=max(1, int(retry_count))),
        )
    except AuthError as exc:
        raise RuntimeError(f"Failed to process burst: \n{exc}") from exc
    if summary.failures:
        raise RuntimeError(f"Failed to process burst: \n{summary.failures[0].reason}")
