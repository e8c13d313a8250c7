"""Valid-value tables for search parameters, shipped as JSON next to this module.

``phidown_config.json`` holds the part of phidown's ``config.json`` that phidown's code reads
(collections, product types per collection, ``$orderby`` fields and directions, burst enums),
in phidown's own key names, so a user's phidown configuration file can be read the same way.
The other files hold what phidown hard-codes (orbit directions, polarisations, platforms,
PhiSat-2 aliases), the Sentinel-2 level aliases, and the map from phidown's Sentinel-1 short
product types (``SLC``/``GRD``/``OCN``) to CDSE's real 10-character codes.

Example:
    >>> valid_values().orbit_directions
    ('ASCENDING', 'DESCENDING')
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..errors import ConfigError

__all__ = ["ValidValues", "load_valid_values", "valid_values"]


def _read_packaged(name: str) -> Any:
    return json.loads(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{what} must be a list of strings")
    return tuple(value)


@dataclass(frozen=True)
class ValidValues:
    """Every table the query validator checks values against.

    Attributes:
        collections: collection names, in the order phidown prints them in errors.
        product_types: collection -> its valid ``product_type`` values (phidown's lists).
        order_by_fields: fields allowed in ``order_by``.
        order_by_directions: ``asc`` / ``desc``.
        parent_product_types, swath_identifiers, operational_modes: burst enums.
        orbit_directions, polarisation_channels, platform_serial_identifiers: phidown's
            hard-coded enums.
        s2_level_aliases: normalised alias (e.g. ``L2A``) -> canonical Sentinel-2 type.
        s1_product_codes: short Sentinel-1 type (``SLC``) -> CDSE codes (``IW_SLC__1S``, ...).
        phisat2_aliases: upper-case collection names that mean PhiSat-2.
    """

    collections: tuple[str, ...]
    product_types: Mapping[str, tuple[str, ...]]
    order_by_fields: tuple[str, ...]
    order_by_directions: tuple[str, ...]
    parent_product_types: tuple[str, ...]
    swath_identifiers: tuple[str, ...]
    operational_modes: tuple[str, ...]
    orbit_directions: tuple[str, ...]
    polarisation_channels: tuple[str, ...]
    platform_serial_identifiers: tuple[str, ...]
    s2_level_aliases: Mapping[str, str]
    s1_product_codes: Mapping[str, tuple[str, ...]]
    phisat2_aliases: frozenset[str]

    @property
    def s1_codes(self) -> frozenset[str]:
        """Every real Sentinel-1 product code in :attr:`s1_product_codes`."""
        return frozenset(code for codes in self.s1_product_codes.values() for code in codes)

    @classmethod
    def from_phidown_config(cls, config: Mapping[str, Any]) -> ValidValues:
        """Tables from a phidown ``config.json`` mapping; keys it lacks keep the packaged values.

        Args:
            config: the decoded JSON object (``valid_collections``, ``attributes``, ...).

        Raises:
            ConfigError: a present key has the wrong shape.
        """
        if not isinstance(config, Mapping):
            raise ConfigError("the configuration must be a JSON object")
        base = valid_values()
        product_types = dict(base.product_types)
        if "attributes" in config:
            attributes = config["attributes"]
            if not isinstance(attributes, Mapping):
                raise ConfigError("attributes must be an object keyed by collection")
            # phidown reads only attributes.<COLLECTION>.productType; a collection without it
            # has no valid product type at all.
            product_types = {}
            for name, block in attributes.items():
                listed = block.get("productType") if isinstance(block, Mapping) else None
                product_types[str(name)] = _strings(listed or [], f"attributes.{name}.productType")

        def pick(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
            return _strings(config[key], key) if key in config else default

        return cls(
            collections=pick("valid_collections", base.collections),
            product_types=MappingProxyType(product_types),
            order_by_fields=pick("valid_order_by_fields", base.order_by_fields),
            order_by_directions=pick("valid_order_by_directions", base.order_by_directions),
            parent_product_types=pick("valid_parent_product_types", base.parent_product_types),
            swath_identifiers=pick("valid_swath_identifiers", base.swath_identifiers),
            operational_modes=pick("valid_operational_modes", base.operational_modes),
            orbit_directions=base.orbit_directions,
            polarisation_channels=base.polarisation_channels,
            platform_serial_identifiers=base.platform_serial_identifiers,
            s2_level_aliases=base.s2_level_aliases,
            s1_product_codes=base.s1_product_codes,
            phisat2_aliases=base.phisat2_aliases,
        )


@cache
def valid_values() -> ValidValues:
    """The packaged tables (read once, then cached)."""
    config = _read_packaged("phidown_config.json")
    fixed = _read_packaged("fixed_values.json")
    s2 = _read_packaged("sentinel2_level_aliases.json")
    s1 = _read_packaged("sentinel1_product_types.json")
    return ValidValues(
        collections=tuple(config["valid_collections"]),
        product_types=MappingProxyType(
            {name: tuple(block["productType"]) for name, block in config["attributes"].items()}
        ),
        order_by_fields=tuple(config["valid_order_by_fields"]),
        order_by_directions=tuple(config["valid_order_by_directions"]),
        parent_product_types=tuple(config["valid_parent_product_types"]),
        swath_identifiers=tuple(config["valid_swath_identifiers"]),
        operational_modes=tuple(config["valid_operational_modes"]),
        orbit_directions=tuple(fixed["orbit_directions"]),
        polarisation_channels=tuple(fixed["polarisation_channels"]),
        platform_serial_identifiers=tuple(fixed["platform_serial_identifiers"]),
        s2_level_aliases=MappingProxyType(
            {alias: canonical for canonical, aliases in s2.items() for alias in aliases}
        ),
        s1_product_codes=MappingProxyType({short: tuple(codes) for short, codes in s1.items()}),
        phisat2_aliases=frozenset(fixed["phisat2_collection_aliases"]),
    )


def load_valid_values(path: str | Path | None = None) -> ValidValues:
    """Tables from a phidown-format ``config.json`` file, or the packaged ones when None.

    Args:
        path: a phidown configuration file (``CopernicusDataSearcher(config_path=...)``).

    Raises:
        FileNotFoundError: ``Configuration file not found at <path>`` (phidown's message).
        ConfigError: the file is not valid JSON or has the wrong shape.
    """
    if path is None:
        return valid_values()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"Configuration file not found at {path}") from None
    except OSError as exc:
        raise ConfigError(
            f"An error occurred while loading the configuration file: {exc}"
        ) from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(f"Configuration file at {path} is not a valid JSON file") from None
    return ValidValues.from_phidown_config(config)
