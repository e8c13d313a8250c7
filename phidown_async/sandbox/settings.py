"""Settings of the simulated CDSE: archive shape, quotas, network and faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: The largest payload of a sandbox zip: room for headers and manifest under 4 GiB (no zip64).
MAX_PAYLOAD = 0xFFFFFFFF - (16 << 20)

FAULT_KINDS = (
    "429",  # 429 with Retry-After
    "500",  # 500 Internal Server Error
    "503",  # 503 Service Unavailable with Retry-After
    "reset",  # connection reset mid-body
    "short",  # body ends before Content-Length
    "stall",  # no bytes for `stall_seconds` mid-body
    "corrupt",  # right length, wrong content
    "revoke",  # token revoked mid-transfer (the next request with it gets 401)
    "error_page",  # an HTML/JSON error page served with status 200 in place of the zip
)


@dataclass(frozen=True)
class Faults:
    """Fault injection on download endpoints (products, bursts).

    ``rates`` maps a kind of FAULT_KINDS to the probability that a download request gets it;
    ``schedule`` maps a kind to the 1-based request numbers (per product or burst Id) that get it,
    for deterministic tests: ``{"reset": (1,)}`` resets the first request of every item.
    Draws come from a generator seeded by the sandbox seed, so a run is repeatable.
    """

    rates: dict[str, float] = field(default_factory=dict)
    schedule: dict[str, tuple[int, ...]] = field(default_factory=dict)
    retry_after: float = 1.0
    stall_seconds: float = 5.0
    # "429", "500" or "503" on search requests.
    catalogue_rates: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind in (*self.rates, *self.schedule):
            if kind not in FAULT_KINDS:
                raise ValueError(f"unknown fault kind {kind!r}; known: {', '.join(FAULT_KINDS)}")
        for kind in self.catalogue_rates:
            if kind not in ("429", "500", "503"):
                raise ValueError(f"catalogue faults are 429, 500 or 503, not {kind!r}")


@dataclass(frozen=True)
class SandboxConfig:
    """Everything that shapes one sandbox instance.

    Attributes:
        seed: makes the archive and fault draws deterministic.
        products: number of products in the archive (mixed missions), besides ``bulk_products``.
        bulk_products: extra Sentinel-1 GRD products packed into one month over one AOI, so a
            test can ask for tens of thousands of matches (``bulk_bursts`` likewise for bursts).
        product_size: bytes of payload per generated product zip (the zip adds a little).
        sizes: per-product payload size overrides by product Name, for benchmarks.
        burst_size: bytes of payload per burst zip.
        data_dir: where product zips are materialised (a temporary folder when None).
        username, password: the first account the token endpoint accepts.
        users: how many accounts it accepts, each with the quota ``max_connections``
            (see `accounts`).
        totp: the two-factor code every password grant must carry (None: no two-factor
            authentication); a grant without it, or with another, is refused as CDSE does.
        access_token_lifetime, refresh_token_lifetime: seconds (CDSE: 600 / 3600).
        max_sessions: active password-grant sessions per user (CDSE: 100).
        max_connections: concurrent download connections per user before 429 DAT-ZIP-100.
        bandwidth: per-connection cap in MB/s (10**6 bytes), None for unthrottled.
        latency: seconds added before every response (catalogue and downloads).
        catalogue_latency: extra seconds added before catalogue search responses only.
        range_mode: "honor" (206), "ignore" (200 full body) or "reject" (416) for product zips.
        burst_delay: seconds of "processing" before a burst zip is returned.
        burst_redirect: whether POST Bursts(<id>)/$value first answers with a redirect.
        tls: serve the catalogue and download origins over HTTPS, with a certificate from a
            throwaway CA (its file is `Sandbox.ca_file`, exported as ``SSL_CERT_FILE``), as
            the real service is HTTPS only.
        s3: start the S3 protocol server (moto) with the products as SAFE folders.
        s3_products: how many products (the archive's first N) are uploaded to S3 at startup;
            None uploads all (slow for big archives: moto has no lazy loading).
        s3_access_key, s3_secret_key: keys the S3 server is published with.
        faults: fault injection.
    """

    seed: int = 0
    products: int = 400
    bulk_products: int = 0
    bulk_bursts: int = 0
    product_size: int = 256 * 1024
    sizes: dict[str, int] = field(default_factory=dict)
    burst_size: int = 32 * 1024
    data_dir: Path | None = None
    username: str = "sandbox-user@example.com"
    password: str = "sandbox-password"
    users: int = 1
    totp: str | None = field(default=None, repr=False)
    access_token_lifetime: float = 600.0
    refresh_token_lifetime: float = 3600.0
    max_sessions: int = 100
    max_connections: int = 4
    bandwidth: float | None = None
    latency: float = 0.0
    catalogue_latency: float = 0.0
    range_mode: str = "honor"
    burst_delay: float = 0.0
    burst_redirect: bool = True
    tls: bool = False
    s3: bool = False
    s3_products: int | None = 10
    s3_access_key: str = "sandbox-access-key"
    s3_secret_key: str = "sandbox-secret-key"
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        if self.range_mode not in ("honor", "ignore", "reject"):
            raise ValueError(f"range_mode must be honor, ignore or reject, not {self.range_mode!r}")
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if self.users < 1:
            raise ValueError("users must be at least 1")
        for name, size in self.sizes.items():
            if size > MAX_PAYLOAD:
                raise ValueError(f"sizes[{name!r}] = {size}: sandbox zips must stay under 4 GiB")
        if not 0 < self.product_size <= MAX_PAYLOAD or not 0 < self.burst_size <= MAX_PAYLOAD:
            raise ValueError("product_size and burst_size must be positive and under 4 GiB")

    def accounts(self) -> tuple[tuple[str, str], ...]:
        """``(username, password)`` of every user: the first is ``username``/``password``,
        user N (from 2) is ``username`` with ``-N`` before its ``@`` and ``password-N``."""
        local, at, domain = self.username.partition("@")
        found = [(self.username, self.password)]
        for number in range(2, self.users + 1):
            found.append((f"{local}-{number}{at}{domain}", f"{self.password}-{number}"))
        return tuple(found)
