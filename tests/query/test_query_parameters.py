"""Validation of search parameters: phidown's order, messages and types, plus the §18 fixes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from phidown_async.errors import QueryError, QueryTypeError
from phidown_async.query import (
    SearchParams,
    normalise_wkt,
    parse_datetime,
    validate_name,
    validate_name_pattern,
    validate_search,
)

COLLECTIONS = (
    "CCM, SENTINEL-1, SENTINEL-2, SENTINEL-3, SENTINEL-5P, SENTINEL-6, SENTINEL-1-RTC, "
    "GLOBAL-MOSAICS, SMOS, ENVISAT, LANDSAT-5, LANDSAT-7, LANDSAT-8-ESA, COP-DEM, TERRAAQUA, "
    "S2GLC"
)
ORDER_BY_CHOICES = (
    "ContentDate/Start asc, ContentDate/Start desc, ContentDate/End asc, ContentDate/End desc, "
    "PublicationDate asc, PublicationDate desc, ModificationDate asc, ModificationDate desc"
)
WKT_PREFIX = "The 'aoi_wkt' parameter must be valid WKT: "
BURST = {"burst_mode": True}

# (kwargs, exception type, exact message)
ERRORS = [
    # skip / count (§3.1 steps 2-3)
    ({"skip": "10"}, QueryTypeError, "The 'skip' parameter must be an integer"),
    ({"skip": True}, QueryTypeError, "The 'skip' parameter must be an integer"),
    ({"skip": 2.0}, QueryTypeError, "The 'skip' parameter must be an integer"),
    ({"skip": -1}, QueryError, "The 'skip' parameter must be greater than or equal to 0"),
    (
        {"skip": 10001},
        QueryError,
        "The 'skip' parameter must be less than or equal to 10000 (the CDSE limit)",
    ),
    (
        {"count": True, "skip": 0},
        QueryError,
        "The 'count' and 'skip' parameters cannot be used together.",
    ),
    # collection (step 6)
    ({"collection_name": None}, QueryError, "Collection name cannot be None"),
    ({"collection_name": 5}, QueryTypeError, "Collection name must be a string"),
    ({"collection_name": ""}, QueryError, "Collection name cannot be empty"),
    (
        {"collection_name": "sentinel-1"},
        QueryError,
        f"Invalid collection name: sentinel-1. Must be one of: {COLLECTIONS}",
    ),
    # product type (step 7)
    ({"product_type": 5}, QueryTypeError, "Product type must be a string"),
    ({"product_type": ""}, QueryError, "Product type cannot be empty"),
    (
        {"product_type": "L2A"},
        QueryError,
        "Invalid product type: L2A. Must be one of: SLC, GRD, OCN",
    ),
    (
        {"collection_name": "SENTINEL-2", "product_type": "L3A"},
        QueryError,
        "Invalid product type: L3A. Must be one of: S2MSI1C, S2MSI2A, S2MSI2B",
    ),
    (
        {"collection_name": "SENTINEL-2", "product_type": "IW_SLC__1S"},
        QueryError,
        "Invalid product type: IW_SLC__1S. Must be one of: S2MSI1C, S2MSI2A, S2MSI2B",
    ),
    (
        {"collection_name": "SENTINEL-3", "product_type": "OL_2_WFR___"},
        QueryError,
        "Invalid product type: OL_2_WFR___. Must be one of: S3OLCI, S3SLSTR, S3SRAL, S3SRSP",
    ),
    (
        {"collection_name": "LANDSAT-8-ESA", "product_type": "L1TP"},
        QueryError,
        "Invalid product type: L1TP. Must be one of: ",
    ),
    # orbit direction (step 8)
    (
        {"orbit_direction": "ascending"},
        QueryError,
        "Invalid orbit direction: ascending. Must be one of: ASCENDING, DESCENDING",
    ),
    (
        {"orbit_direction": "UP", **BURST},
        QueryError,
        "Invalid orbit direction: UP. Must be one of: ASCENDING, DESCENDING",
    ),
    # cloud cover (step 9)
    (
        {"cloud_cover_threshold": -10},
        QueryError,
        "The 'cloud_cover_threshold' parameter must be between 0 and 100",
    ),
    (
        {"cloud_cover_threshold": 110},
        QueryError,
        "The 'cloud_cover_threshold' parameter must be between 0 and 100",
    ),
    (
        {"cloud_cover_threshold": float("nan")},
        QueryError,
        "The 'cloud_cover_threshold' parameter must be between 0 and 100",
    ),
    (
        {"cloud_cover_threshold": "10"},
        QueryTypeError,
        "The 'cloud_cover_threshold' parameter must be a number",
    ),
    (
        {"cloud_cover_threshold": True},
        QueryTypeError,
        "The 'cloud_cover_threshold' parameter must be a number",
    ),
    # AOI (step 10, §4.2)
    ({"aoi_wkt": 5}, QueryTypeError, "The 'aoi_wkt' parameter must be a string"),
    ({"aoi_wkt": " \n\t "}, QueryError, "The 'aoi_wkt' parameter cannot be empty"),
    ({"aoi_wkt": "(1 2)"}, QueryError, WKT_PREFIX + "missing geometry type"),
    ({"aoi_wkt": "POINT"}, QueryError, WKT_PREFIX + "missing geometry body"),
    (
        {"aoi_wkt": "GEOMETRYCOLLECTION(POINT(1 2))"},
        QueryError,
        "Unsupported AOI WKT geometry type 'GEOMETRYCOLLECTION'. Supported types: POINT, "
        "MULTIPOINT, LINESTRING, MULTILINESTRING, POLYGON, MULTIPOLYGON",
    ),
    (
        {"aoi_wkt": "INVALID WKT"},
        QueryError,
        "Unsupported AOI WKT geometry type 'INVALID'. Supported types: POINT, MULTIPOINT, "
        "LINESTRING, MULTILINESTRING, POLYGON, MULTIPOLYGON",
    ),
    (
        {"aoi_wkt": "SRID=4326;POINT(1 2)"},
        QueryError,
        "Unsupported AOI WKT geometry type 'SRID'. Supported types: POINT, MULTIPOINT, "
        "LINESTRING, MULTILINESTRING, POLYGON, MULTIPOLYGON",
    ),
    ({"aoi_wkt": "POINT 1 2"}, QueryError, WKT_PREFIX + "missing outer parentheses"),
    ({"aoi_wkt": "POINT Z (1 2 3)"}, QueryError, WKT_PREFIX + "missing outer parentheses"),
    ({"aoi_wkt": "POINT((1 2)"}, QueryError, WKT_PREFIX + "unbalanced parentheses"),
    ({"aoi_wkt": "POINT(1 2) (3 4)"}, QueryError, WKT_PREFIX + "unexpected trailing geometry text"),
    ({"aoi_wkt": "POINT( )"}, QueryError, WKT_PREFIX + "empty geometry body"),
    ({"aoi_wkt": "LINESTRING(1 2,,3 4)"}, QueryError, WKT_PREFIX + "empty geometry component"),
    ({"aoi_wkt": "POINT(12.4)"}, QueryError, WKT_PREFIX + "invalid coordinate pair: '12.4'"),
    ({"aoi_wkt": "POINT(1 2 3)"}, QueryError, WKT_PREFIX + "invalid coordinate pair: '1 2 3'"),
    (
        {"aoi_wkt": "POINT(١ ٢)"},  # non-ASCII digits are not WKT numbers
        QueryError,
        WKT_PREFIX + "invalid coordinate pair: '١ ٢'",
    ),
    (
        {"aoi_wkt": "POLYGON((0 0, 1 0, 0 0))"},
        QueryError,
        WKT_PREFIX + "WKT polygon ring must have at least 4 coordinate pairs",
    ),
    (
        {"aoi_wkt": "POLYGON((0 0, 1 0, 1 1, 0 1))"},
        QueryError,
        WKT_PREFIX + "WKT polygon ring must start and end with the same point",
    ),
    (
        {"aoi_wkt": "MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)), ((2 2, 3 2, 3 3, 2 2, 9 9)))"},
        QueryError,
        WKT_PREFIX + "WKT polygon ring must start and end with the same point",
    ),
    # dates (step 11, §4.3)
    (
        {"start_date": "yesterday"},
        QueryError,
        "Invalid start_date format: yesterday. Must be in ISO 8601 format.",
    ),
    (
        {"end_date": "2024-13-01"},
        QueryError,
        "Invalid end_date format: 2024-13-01. Must be in ISO 8601 format.",
    ),
    (
        {"start_date": "2024-01-01 00:00:00"},
        QueryError,
        "Invalid start_date format: 2024-01-01 00:00:00. Must be in ISO 8601 format.",
    ),
    (
        {"start_date": "2024-W01-1"},
        QueryError,
        "Invalid start_date format: 2024-W01-1. Must be in ISO 8601 format.",
    ),
    (
        {"start_date": "2024-01-01T00:00:00+24:00"},
        QueryError,
        "Invalid start_date format: 2024-01-01T00:00:00+24:00. Must be in ISO 8601 format.",
    ),
    (
        {"start_date": 20240101},
        QueryTypeError,
        "start_date must be an ISO 8601 string or a datetime, got int",
    ),
    (
        {"start_date": "2024-01-01T00:00:00Z", "end_date": "2024-02-01T00:00:00"},
        QueryError,
        "start_date and end_date must both be timezone-aware or both be timezone-naive.",
    ),
    (
        {"start_date": "2024-02-01", "end_date": "2024-01-01"},
        QueryError,
        "start_date must not be later than end_date.",
    ),
    # top (step 12)
    ({"top": 0}, QueryError, "The 'top' parameter must be between 1 and 1000"),
    ({"top": 1001}, QueryError, "The 'top' parameter must be between 1 and 1000"),
    ({"top": "10"}, QueryTypeError, "The 'top' parameter must be an integer"),
    ({"top": True}, QueryTypeError, "The 'top' parameter must be an integer"),
    ({"top": 10.5}, QueryTypeError, "The 'top' parameter must be an integer"),
    # order_by (step 13)
    (
        {"order_by": "InvalidFormat"},
        QueryError,
        "Invalid order_by format: InvalidFormat. It must be in the format 'field direction'.",
    ),
    (
        {"order_by": "Name asc"},
        QueryError,
        f"Invalid order_by value: Name asc. Must be one of: {ORDER_BY_CHOICES}",
    ),
    (
        {"order_by": "PublicationDate up"},
        QueryError,
        f"Invalid order_by value: PublicationDate up. Must be one of: {ORDER_BY_CHOICES}",
    ),
    ({"order_by": 5}, QueryTypeError, "The 'order_by' parameter must be a string"),
    # attributes (step 14)
    ({"attributes": [("a", 1)]}, QueryTypeError, "Attributes must be a dictionary"),
    ({"attributes": {1: "a"}}, QueryTypeError, "Attribute keys must be strings"),
    (
        {"attributes": {"a": [1]}},
        QueryTypeError,
        "Attribute values must be strings, integers, or floats",
    ),
    (
        {"attributes": {"sliceProductFlag": True}},
        QueryTypeError,
        "Attribute values must be strings, integers, or floats (got a bool for 'sliceProductFlag')",
    ),
    (
        {"attributes": {"a": float("inf")}},
        QueryError,
        "Attribute value for 'a' must be a finite number",
    ),
    # burst fields (step 15, §4.5)
    (
        {"swath_identifier": "IW4", **BURST},
        QueryError,
        "Invalid swath_identifier: IW4. Must be one of: IW1, IW2, IW3, EW1, EW2, EW3, EW4, EW5",
    ),
    (
        {"parent_product_type": "IW_GRDH_1S", **BURST},
        QueryError,
        "Invalid parent_product_type: IW_GRDH_1S. Must be one of: IW_SLC__1S, EW_SLC__1S",
    ),
    (
        {"operational_mode": "SM", **BURST},
        QueryError,
        "Invalid operational_mode: SM. Must be one of: IW, EW",
    ),
    (
        {"polarisation_channels": "XX", **BURST},
        QueryError,
        "Invalid polarisation_channels: XX. Must be one of: VV, VH, HH, HV",
    ),
    (
        {"platform_serial_identifier": "D", **BURST},
        QueryError,
        "Invalid platform_serial_identifier: D. Must be one of: A, B, C",
    ),
    ({"burst_id": "not_an_integer", **BURST}, QueryTypeError, "burst_id must be an integer"),
    ({"burst_id": True, **BURST}, QueryTypeError, "burst_id must be an integer"),
    ({"absolute_burst_id": 1.5, **BURST}, QueryTypeError, "absolute_burst_id must be an integer"),
    ({"datatake_id": False, **BURST}, QueryTypeError, "datatake_id must be an integer"),
    (
        {"relative_orbit_number": [8], **BURST},
        QueryTypeError,
        "relative_orbit_number must be an integer",
    ),
    ({"parent_product_name": 5, **BURST}, QueryTypeError, "parent_product_name must be a string"),
    # burst-only parameters without burst_mode
    (
        {"burst_id": 15804, "swath_identifier": "IW2"},
        QueryError,
        "These parameters only apply to burst searches; pass burst_mode=True to use them: "
        "burst_id, swath_identifier",
    ),
    (
        {"polarisation_channels": "VV"},
        QueryError,
        "These parameters only apply to burst searches; pass burst_mode=True to use them: "
        "polarisation_channels",
    ),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), ERRORS)
def test_validation_error_messages(kwargs, error, message):
    with pytest.raises(error) as caught:
        validate_search(**kwargs)
    assert str(caught.value) == message
    assert type(caught.value) is error


def test_errors_keep_phidowns_builtin_types():
    with pytest.raises(ValueError):
        validate_search(top=0)
    with pytest.raises(TypeError):
        validate_search(skip="1")


@pytest.mark.parametrize("alias", ["PHISAT", "phisat2", "PhiSat-2", "PHISAT_2"])
@pytest.mark.parametrize("burst_mode", [False, True])
def test_phisat2_collections_are_rejected_clearly(alias, burst_mode):
    with pytest.raises(QueryError, match="PhiSat-2 collections are not supported") as caught:
        validate_search(collection_name=alias, burst_mode=burst_mode)
    assert "Copernicus Data Space Ecosystem" in str(caught.value)


# The first failing step of §3.1 decides the message.
ORDER = [
    ({"skip": -1, "collection_name": "NOPE"}, "'skip' parameter must be greater"),
    ({"collection_name": "NOPE", "top": 0}, "Invalid collection name"),
    ({"product_type": "XYZ", "orbit_direction": "UP"}, "Invalid product type"),
    ({"orbit_direction": "UP", "cloud_cover_threshold": 500}, "Invalid orbit direction"),
    ({"cloud_cover_threshold": 500, "aoi_wkt": "POINT(1)"}, "cloud_cover_threshold"),
    ({"aoi_wkt": "POINT(1)", "start_date": "bad"}, "must be valid WKT"),
    ({"start_date": "bad", "end_date": "worse"}, "Invalid start_date format"),
    ({"start_date": "bad", "top": 0}, "Invalid start_date format"),
    ({"top": 0, "order_by": "x"}, "'top' parameter must be between"),
    ({"order_by": "x", "attributes": {"a": [1]}}, "Invalid order_by format"),
    ({"attributes": {"a": [1]}, "burst_id": 1}, "Attribute values must be"),
    ({"swath_identifier": "X", "burst_id": "x", **BURST}, "Invalid swath_identifier"),
    ({"burst_id": "x", "absolute_burst_id": "y", **BURST}, "burst_id must be an integer"),
]


@pytest.mark.parametrize(("kwargs", "expected"), ORDER)
def test_first_failing_step_wins(kwargs, expected):
    with pytest.raises(QueryError) as caught:
        validate_search(**kwargs)
    assert expected in str(caught.value)


def test_defaults_are_phidowns():
    params = validate_search()
    assert params == SearchParams()
    assert params.collection_name == "SENTINEL-1"
    assert params.top == 1000
    assert params.order_by == "ContentDate/Start desc"
    assert params.count is False
    assert params.skip is None
    assert params.base_url is None


def test_values_are_kept_verbatim():
    params = validate_search(
        collection_name="SENTINEL-2",
        product_type="S2MSI2A",
        start_date="2023-01-01T00:00:00.000Z",
        end_date="2023-01-31T23:59:59.999Z",
        order_by="PublicationDate  asc",
        top=7,
        count=1,
    )
    assert params.start_date == "2023-01-01T00:00:00.000Z"
    assert params.end_date == "2023-01-31T23:59:59.999Z"
    assert params.order_by == "PublicationDate  asc"  # stored unchanged, like phidown
    assert params.count is True
    assert params.top == 7


def test_empty_order_by_falls_back_to_default():
    assert validate_search(order_by="").order_by == "ContentDate/Start desc"
    assert validate_search(order_by=None).order_by == "ContentDate/Start desc"


def test_whole_float_top_becomes_an_integer():
    assert validate_search(top=10.0).top == 10


def test_cloud_cover_bounds_are_inclusive():
    assert validate_search(cloud_cover_threshold=0).cloud_cover_threshold == 0
    assert validate_search(cloud_cover_threshold=100.0).cloud_cover_threshold == 100.0


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("L1C", "S2MSI1C"),
        ("l1c", "S2MSI1C"),
        ("Level-1C", "S2MSI1C"),
        ("level 2a", "S2MSI2A"),
        ("2A", "S2MSI2A"),
        ("L2B", "S2MSI2B"),
        ("S2MSI2A", "S2MSI2A"),
    ],
)
def test_sentinel2_level_aliases(given, canonical):
    assert validate_search(collection_name="SENTINEL-2", product_type=given).product_type == (
        canonical
    )


def test_sentinel2_aliases_apply_to_attributes():
    params = validate_search(
        collection_name="SENTINEL-2",
        attributes={"processingLevel": "L2A", "productType": "Level-1C", "tileId": "L2A"},
    )
    assert dict(params.attributes) == {
        "processingLevel": "S2MSI2A",
        "productType": "S2MSI1C",
        "tileId": "L2A",
    }


def test_aliases_do_not_apply_outside_sentinel2():
    params = validate_search(collection_name="SENTINEL-3", attributes={"processingLevel": "L2A"})
    assert dict(params.attributes) == {"processingLevel": "L2A"}


@pytest.mark.parametrize("code", ["IW_SLC__1S", "EW_GRDM_1S", "S3_GRDH_1S", "WV_OCN__2S"])
def test_sentinel1_accepts_real_cdse_codes(code):
    assert validate_search(product_type=code).product_type == code


def test_attributes_are_read_only_and_in_order():
    source = {"b": 1, "a": "x", "c": 2.5}
    params = validate_search(attributes=source)
    source["d"] = 4  # later changes by the caller do not leak in
    assert list(params.attributes) == ["b", "a", "c"]
    with pytest.raises(TypeError):
        params.attributes["z"] = 1


def test_burst_mode_ignores_product_only_parameters():
    params = validate_search(
        burst_mode=True,
        collection_name="SENTINEL-2",
        product_type="XYZ",
        cloud_cover_threshold=500,
        attributes={"a": [1]},
        relative_orbit_number="8",
        burst_id=" 15804 ",
    )
    assert params.burst_mode is True
    assert params.relative_orbit_number == 8
    assert params.burst_id == 15804


def test_burst_mode_accepts_every_documented_value():
    for swath in ("IW1", "IW2", "IW3", "EW1", "EW2", "EW3", "EW4", "EW5"):
        assert validate_search(burst_mode=True, swath_identifier=swath).swath_identifier == swath
    for pol in ("VV", "VH", "HH", "HV"):
        validate_search(burst_mode=True, polarisation_channels=pol)
    for platform in ("A", "B", "C"):
        validate_search(burst_mode=True, platform_serial_identifier=platform)
    for mode in ("IW", "EW"):
        validate_search(burst_mode=True, operational_mode=mode)
    for parent in ("IW_SLC__1S", "EW_SLC__1S"):
        validate_search(burst_mode=True, parent_product_type=parent)


def test_base_url_default_means_configured_catalogue():
    products = "https://catalogue.dataspace.copernicus.eu/odata/v1/Products"
    assert validate_search(base_url=products).base_url is None
    assert validate_search(base_url="http://127.0.0.1:9/Products").base_url == (
        "http://127.0.0.1:9/Products"
    )
    assert validate_search(base_url="http://127.0.0.1:9/P", burst_mode=True).base_url is None


def test_datetime_objects_are_accepted():
    params = validate_search(
        start_date=datetime(2024, 8, 1, tzinfo=UTC), end_date=datetime(2024, 8, 2, tzinfo=UTC)
    )
    assert params.start_date == "2024-08-01T00:00:00+00:00"
    assert params.end == datetime(2024, 8, 2, tzinfo=UTC)


def test_equal_instants_in_different_offsets_are_accepted():
    params = validate_search(
        start_date="2024-01-01T00:00:00+01:00", end_date="2023-12-31T23:00:00+00:00"
    )
    assert params.start == params.end


def test_naive_dates_read_as_utc():
    params = validate_search(start_date="2024-01-01", end_date="2024-01-02T06:30")
    assert params.start == datetime(2024, 1, 1, tzinfo=UTC)
    assert params.end == datetime(2024, 1, 2, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-01", datetime(2024, 1, 1)),
        ("2024-01-01T10:20", datetime(2024, 1, 1, 10, 20)),
        ("2024-01-01T10:20:30", datetime(2024, 1, 1, 10, 20, 30)),
        ("2024-01-01T10:20:30.5", datetime(2024, 1, 1, 10, 20, 30, 500000)),
        ("2024-01-01T10:20:30.123456789Z", datetime(2024, 1, 1, 10, 20, 30, 123456, UTC)),
        (
            "2022-05-03T00:00:00.000-04:00",
            datetime(2022, 5, 3, tzinfo=timezone(timedelta(hours=-4))),
        ),
        ("2024-01-01T00:00:00+05:30", datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=5.5)))),
    ],
)
def test_iso_grammar_accepts(text, expected):
    assert parse_datetime(text) == expected
    assert (parse_datetime(text).tzinfo is None) == (expected.tzinfo is None)


@pytest.mark.parametrize(
    "text",
    [
        "2024-1-01",
        "20240101",
        "2024-01-01T10",
        "2024-01-01t10:00:00",
        "2024-01-01T10:00:00z",
        "2024-01-01T25:00:00",
        "2024-02-30",
        "2024-01-01T10:00:00+0100",
        "2024-01-01Z",
        "2024-01-01T10:00:00.Z",
        "２０２４-01-01",
        " 2024-01-01",
    ],
)
def test_iso_grammar_rejects(text):
    with pytest.raises(ValueError):
        parse_datetime(text)


@pytest.mark.parametrize(
    "wkt",
    [
        "POINT(12.4 41.9)",
        "MULTIPOINT((12.4 41.9), (12.5 42.0))",
        "MULTIPOINT(12.4 41.9, 12.5 42.0)",
        "LINESTRING(12.4 41.9, 12.5 42.0)",
        "MULTILINESTRING((12.4 41.9, 12.5 42.0), (12.6 42.1, 12.7 42.2))",
        "POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))",
        "POLYGON((0 0, 9 0, 9 9, 0 9, 0 0), (1 1, 2 1, 2 2, 1 1))",
        "MULTIPOLYGON(((0 0, 1 0, 1 1, 0 1, 0 0)), ((2 2, 3 2, 3 3, 2 3, 2 2)))",
        "POLYGON EMPTY",
        "point(-1.5e2 +.5)",
    ],
)
def test_supported_wkt_is_stored_unchanged(wkt):
    assert validate_search(aoi_wkt=wkt).aoi_wkt == wkt


def test_wkt_whitespace_is_collapsed_and_case_kept():
    messy = "  polygon ((10 45,\n 12 45,\t12 46,   10 46, 10 45))  "
    assert normalise_wkt(messy) == "polygon ((10 45, 12 45, 12 46, 10 46, 10 45))"


def test_validate_name():
    assert validate_name("S1A_X.SAFE") == "S1A_X.SAFE"
    for bad in ("", None, 5):
        with pytest.raises(QueryError) as caught:
            validate_name(bad)
        assert str(caught.value) == "Product name must be a non-empty string."


def test_validate_name_pattern_effective_values():
    query = validate_name_pattern(
        "T33", "contains", "SENTINEL-1", top=7, order_by="foo bar", default_top=50
    )
    assert (query.pattern, query.match_type, query.collection) == ("T33", "contains", "SENTINEL-1")
    assert (query.top, query.order_by) == (7, "foo bar")  # order_by is not validated (phidown)
    fallback = validate_name_pattern(
        "S1A",
        "exact",
        default_collection="SENTINEL-2",
        default_top=50,
        default_order_by="PublicationDate asc",
    )
    assert (fallback.collection, fallback.top, fallback.order_by) == (
        "SENTINEL-2",
        50,
        "PublicationDate asc",
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "message"),
    [
        (("", "exact"), {}, QueryError, "Name pattern must be a non-empty string."),
        ((5, "exact"), {}, QueryError, "Name pattern must be a non-empty string."),
        (
            ("S1A", "regex"),
            {},
            QueryError,
            "Invalid match_type: regex. Must be one of: exact, contains, startswith, endswith",
        ),
        (
            ("S1A", "exact", "SENTINEL-9"),
            {},
            QueryError,
            "Invalid 'collection_name_filter' provided: 'SENTINEL-9'. Validation error: "
            f"Invalid collection name: SENTINEL-9. Must be one of: {COLLECTIONS}",
        ),
        (("S1A", "exact", 5), {}, QueryTypeError, "Collection name must be a string"),
        (
            ("S1A", "exact"),
            {"top": 0},
            QueryError,
            "The 'top' parameter for the query must be between 1 and 1000. Effective value: 0",
        ),
        (
            ("S1A", "exact"),
            {"default_top": 1001},
            QueryError,
            "The 'top' parameter for the query must be between 1 and 1000. Effective value: 1001",
        ),
        (
            ("S1A", "exact"),
            {"top": True},
            QueryTypeError,
            "The 'top' parameter for the query must be an integer. Effective value: True",
        ),
    ],
)
def test_validate_name_pattern_errors(args, kwargs, error, message):
    with pytest.raises(error) as caught:
        validate_name_pattern(*args, **kwargs)
    assert str(caught.value) == message
