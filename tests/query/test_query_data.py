"""The packaged valid-value tables and phidown-format configuration files."""

from __future__ import annotations

import json

import pytest

from phidown_async.data import ValidValues, load_valid_values, valid_values
from phidown_async.errors import ConfigError, QueryError
from phidown_async.query import validate_search


def test_packaged_tables_match_phidowns_config():
    tables = valid_values()
    assert tables.collections[:3] == ("CCM", "SENTINEL-1", "SENTINEL-2")
    assert len(tables.collections) == 16
    assert tables.product_types["SENTINEL-1"] == ("SLC", "GRD", "OCN")
    assert tables.product_types["CCM"] == ("NAO_MS4_2A_07B6",)
    assert "LANDSAT-8-ESA" not in tables.product_types
    assert tables.order_by_fields == (
        "ContentDate/Start",
        "ContentDate/End",
        "PublicationDate",
        "ModificationDate",
    )
    assert tables.swath_identifiers == ("IW1", "IW2", "IW3", "EW1", "EW2", "EW3", "EW4", "EW5")
    assert tables.platform_serial_identifiers == ("A", "B", "C")
    assert tables.s2_level_aliases["LEVEL2A"] == "S2MSI2A"


def test_sentinel1_code_table():
    codes = valid_values().s1_product_codes
    assert codes["SLC"] == (
        "IW_SLC__1S",
        "EW_SLC__1S",
        "S1_SLC__1S",
        "S2_SLC__1S",
        "S3_SLC__1S",
        "S4_SLC__1S",
        "S5_SLC__1S",
        "S6_SLC__1S",
        "WV_SLC__1S",
    )
    assert codes["OCN"][0] == "IW_OCN__2S" and codes["OCN"][-1] == "WV_OCN__2S"
    assert {"IW_GRDH_1S", "EW_GRDM_1S", "S6_GRDH_1S", "WV_GRDM_1S"} <= set(codes["GRD"])
    # Every code is a real 10-character CDSE product type.
    assert all(len(code) == 10 for group in codes.values() for code in group)


def test_tables_are_read_only():
    with pytest.raises(TypeError):
        valid_values().product_types["NEW"] = ("X",)


def test_user_config_file_overrides_tables(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps(
            {
                "valid_collections": ["SENTINEL-1", "MY-COLL"],
                "attributes": {"MY-COLL": {"productType": ["A1"], "origin": "x"}},
            }
        )
    )
    tables = load_valid_values(path)
    assert tables.collections == ("SENTINEL-1", "MY-COLL")
    assert tables.order_by_fields == valid_values().order_by_fields  # not in the file
    assert validate_search(collection_name="MY-COLL", product_type="A1", tables=tables)
    with pytest.raises(QueryError, match="Invalid collection name: SENTINEL-2"):
        validate_search(collection_name="SENTINEL-2", tables=tables)
    with pytest.raises(QueryError, match=r"Invalid product type: SLC\. Must be one of: $"):
        validate_search(product_type="SLC", tables=tables)


def test_config_file_errors(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(FileNotFoundError) as caught:
        load_valid_values(missing)
    assert str(caught.value) == f"Configuration file not found at {missing}"
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError) as caught:
        load_valid_values(broken)
    assert str(caught.value) == f"Configuration file at {broken} is not a valid JSON file"
    with pytest.raises(ConfigError, match="valid_collections must be a list of strings"):
        ValidValues.from_phidown_config({"valid_collections": "SENTINEL-1"})
    assert load_valid_values(None) is valid_values()
