"""The sandbox's $filter / $orderby engine: grammar, typing, errors, and phidown's queries."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from shapely.geometry import Point, Polygon, shape
from shapely.wkt import loads as load_wkt

from phidown_async.sandbox.archive import Archive
from phidown_async.sandbox.catalogue import BURSTS, PRODUCTS
from phidown_async.sandbox.filter_syntax import FilterError, parse_datetime
from phidown_async.sandbox.odata import (
    Field,
    Schema,
    compile_filter,
    parse_orderby,
    sort_entities,
)
from phidown_async.sandbox.records import Record
from phidown_async.sandbox.settings import SandboxConfig

# A tiny entity set of plain dicts, to pin the grammar independently of the archive.
ITEMS = [
    {
        "Id": "00000000-0000-4000-8000-00000000000a",
        "Name": "S1A_IW_GRDH_1SDV_A.SAFE",
        "Size": 10,
        "Ratio": 0.5,
        "Flag": True,
        "When": datetime(2024, 8, 1, 12, tzinfo=UTC),
        "Attrs": {"productType": "IW_GRDH_1S", "relativeOrbitNumber": 15, "cloudCover": 12.5},
        "Geo": Polygon([(10, 45), (12, 45), (12, 46), (10, 46)]),
    },
    {
        "Id": "00000000-0000-4000-8000-00000000000b",
        "Name": "S2B_MSIL2A_O'Neil.SAFE",
        "Size": 20,
        "Ratio": 1.5,
        "Flag": False,
        "When": datetime(2024, 8, 3, tzinfo=UTC),
        "Attrs": {"productType": "S2MSI2A", "relativeOrbitNumber": 22, "cloudCover": 80.0},
        "Geo": Polygon([(100, -5), (101, -5), (101, -4), (100, -4)]),
    },
    {
        "Id": "00000000-0000-4000-8000-00000000000c",
        "Name": "S1A_IW_SLC__1SDV_C.SAFE",
        "Size": 30,
        "Ratio": 2.5,
        "Flag": True,
        "When": datetime(2024, 8, 3, tzinfo=UTC),
        "Attrs": {"productType": "IW_SLC__1S", "relativeOrbitNumber": 15, "sliceFlag": True},
        "Geo": None,
    },
]
SCHEMA = Schema(
    name="Items",
    fields={
        "Id": Field("str", lambda e: e["Id"]),
        "Name": Field("str", lambda e: e["Name"]),
        "Size": Field("int", lambda e: e["Size"]),
        "Ratio": Field("float", lambda e: e["Ratio"]),
        "Flag": Field("bool", lambda e: e["Flag"]),
        "When": Field("datetime", lambda e: e["When"]),
    },
    attributes=lambda e: e["Attrs"],
    bbox=lambda e: e["Geo"].bounds if e["Geo"] is not None else None,
    geometry=lambda e: e["Geo"],
    orderable=("When",),
)


def names(text: str) -> list[str]:
    predicate = compile_filter(text, SCHEMA)
    return [e["Name"][:3] + e["Id"][-1] for e in ITEMS if predicate(e)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Size eq 10", ["S1Aa"]),
        ("Size ne 10", ["S2Bb", "S1Ac"]),
        ("Size gt 10 and Size le 30", ["S2Bb", "S1Ac"]),
        ("20 lt Size", ["S1Ac"]),  # literal on the left
        ("Ratio ge 1.5", ["S2Bb", "S1Ac"]),
        ("Size lt 25.5", ["S1Aa", "S2Bb"]),
        ("Flag eq true", ["S1Aa", "S1Ac"]),
        ("not (Flag eq true)", ["S2Bb"]),
        ("Size eq 10 or Size eq 20 and Flag eq true", ["S1Aa"]),  # and binds tighter
        ("(Size eq 10 or Size eq 20) and Flag eq false", ["S2Bb"]),
        ("Name eq 'S2B_MSIL2A_O''Neil.SAFE'", ["S2Bb"]),  # '' is a quote
        ("contains(Name,'GRDH')", ["S1Aa"]),
        ("startswith(Name, 'S1A')", ["S1Aa", "S1Ac"]),  # space after the comma
        ("endswith(Name,'C.SAFE')", ["S1Ac"]),
        ("contains(Name,'SLC') eq false", ["S1Aa", "S2Bb"]),
        ("not startswith(Name,'S1A')", ["S2Bb"]),
        ("Id eq 00000000-0000-4000-8000-00000000000B", ["S2Bb"]),  # bare UUID, any case
        ("Id eq '00000000-0000-4000-8000-00000000000c'", ["S1Ac"]),
        ("When gt 2024-08-01", ["S1Aa", "S2Bb", "S1Ac"]),  # bare date = midnight UTC
        ("When lt 2024-08-01T12:00:00", []),  # no zone = UTC
        ("When le 2024-08-01T12:00:00.0000001Z", ["S1Aa"]),  # fractions of any length
        ("When eq 2024-08-01T14:00:00+02:00", ["S1Aa"]),  # offsets convert to UTC
        ("When ge 2024-08-03T00:00:00.000000Z", ["S2Bb", "S1Ac"]),
        ("SIZE eq 10 or Size eq 10", None),  # unknown property: an error, not False
    ],
)
def test_grammar(text: str, expected: list[str] | None) -> None:
    if expected is None:
        with pytest.raises(FilterError, match="unknown property 'SIZE'"):
            names(text)
    else:
        assert names(text) == expected


ATTR = "Attributes/OData.CSC.{cast}Attribute/any(att:att/Name eq '{name}' and {test})"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            ATTR.format(
                cast="String",
                name="productType",
                test="att/OData.CSC.StringAttribute/Value eq 'IW_SLC__1S'",
            ),
            ["S1Ac"],
        ),
        # Lenient casts: the outer and inner cast names need not match the value's type.
        (
            ATTR.format(
                cast="String",
                name="relativeOrbitNumber",
                test="att/OData.CSC.IntegerAttribute/Value eq 15",
            ),
            ["S1Aa", "S1Ac"],
        ),
        (
            ATTR.format(
                cast="Integer",
                name="relativeOrbitNumber",
                test="att/OData.CSC.StringAttribute/Value eq 22",
            ),
            ["S2Bb"],
        ),
        (
            "attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' "
            "and att/OData.CSC.DoubleAttribute/Value lt 20.00)",
            ["S1Aa"],
        ),
        # The client's expansion of phidown's short 'SLC': an or of value tests.
        (
            ATTR.format(
                cast="String",
                name="productType",
                test="(att/OData.CSC.StringAttribute/Value eq 'IW_SLC__1S' or "
                "att/OData.CSC.StringAttribute/Value eq 'EW_SLC__1S')",
            ),
            ["S1Ac"],
        ),
        # 'SLC' is no productType value on CDSE: it matches nothing.
        (
            ATTR.format(
                cast="String",
                name="productType",
                test="att/OData.CSC.StringAttribute/Value eq 'SLC'",
            ),
            [],
        ),
        # A wrong literal type never matches (no error, no false positive).
        (
            ATTR.format(
                cast="String",
                name="relativeOrbitNumber",
                test="att/OData.CSC.StringAttribute/Value eq '15'",
            ),
            [],
        ),
        (
            ATTR.format(cast="Boolean", name="sliceFlag", test="att/Value eq true"),
            ["S1Ac"],
        ),
        # A lambda without a name test scans every attribute.
        ("Attributes/OData.CSC.DoubleAttribute/any(att:att/Value gt 50.0)", ["S2Bb"]),
        (
            "not Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'cloudCover')",
            ["S1Ac"],
        ),
    ],
)
def test_attribute_lambdas(text: str, expected: list[str]) -> None:
    assert names(text) == expected


@pytest.mark.parametrize(
    ("wkt", "expected"),
    [
        ("POLYGON((10.5 45.5, 11 45.5, 11 45.8, 10.5 45.8, 10.5 45.5))", ["S1Aa"]),
        ("POLYGON ((10.5 45.5, 11 45.5, 11 45.8, 10.5 45.8, 10.5 45.5))", ["S1Aa"]),
        ("POINT(100.5 -4.5)", ["S2Bb"]),
        ("POINT (12.5 41.9)", []),
        ("LINESTRING(0 45.5, 20 45.5)", ["S1Aa"]),
        (
            "MULTIPOLYGON(((10 45, 10.2 45, 10.2 45.2, 10 45)),"
            "((100 -5, 100.2 -5, 100.2 -4.8, 100 -5)))",
            ["S1Aa", "S2Bb"],
        ),
        ("MULTIPOINT((11 45.5), (50 50))", ["S1Aa"]),
    ],
)
def test_intersects(wkt: str, expected: list[str]) -> None:
    assert names(f"OData.CSC.Intersects(area=geography'SRID=4326;{wkt}')") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("Name eq", "expected a property or a literal at position 7"),
        ("(Size eq 10", "expected ')'"),
        ("Size eq 10)", "unexpected ')'"),
        ("Size 10", "expected a comparison operator"),
        ("Size eq 10 Size", "unexpected 'Size'"),
        ("Name eq 'unterminated", "unexpected character"),
        ("When gt datetime'2020-08-07T00:00:00'", "unsupported literal datetime"),
        ("When gt '2024-01-01'", "DateTimeOffset property"),
        ("Size eq 'ten'", "Integer property"),
        ("Name eq 5", "String property"),
        ("Flag gt true", "only eq and ne"),
        ("When gt 2024-02-30", "invalid date literal"),
        ("When gt 2024-01-01T00:00:00 00:00", "unexpected"),  # an unencoded '+' became a space
        ("frobnicate(Name,'x')", "unsupported function 'frobnicate'"),
        ("Size eq Ratio", "a property on one side and a literal on the other"),
        (
            "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))')",
            "invalid geometry",
        ),
        ("OData.CSC.Intersects(area=geography'SRID=3857;POINT(1 1)')", "SRID=4326"),
        ("OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((1 2, 3')", "invalid WKT"),
        ("Attributes/OData.CSC.StringAttribute/any(x:att/Name eq 'a')", "lambda variable"),
        ("Attributes/any(att:att/Foo eq 'a')", "unsupported lambda property"),
    ],
)
def test_errors_are_clear(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=re.escape(message)):
        compile_filter(text, SCHEMA)


def test_date_literals() -> None:
    assert parse_datetime("2024-08-01") == datetime(2024, 8, 1, tzinfo=UTC)
    assert parse_datetime("2024-08-01T10:20") == datetime(2024, 8, 1, 10, 20, tzinfo=UTC)
    assert parse_datetime("2024-08-01T10:20:30.5") == datetime(
        2024, 8, 1, 10, 20, 30, 500000, tzinfo=UTC
    )
    # More than six fraction digits are truncated to microseconds.
    assert parse_datetime("2024-08-01T00:00:00.123456789Z").microsecond == 123456
    shifted = parse_datetime("2024-08-01T00:00:00.000-04:00")
    assert shifted == datetime(2024, 8, 1, 4, tzinfo=UTC)
    assert shifted.tzinfo == UTC
    east = datetime(2024, 8, 1, 5, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert parse_datetime("2024-08-01T05:30:00+05:30") == east


def test_orderby_sorts_with_id_tiebreak() -> None:
    keys = parse_orderby("When desc", SCHEMA)
    ordered = sort_entities(ITEMS, keys, SCHEMA)
    # b and c share a date: the Id decides, ascending, whatever the direction.
    assert [e["Id"][-1] for e in ordered] == ["b", "c", "a"]
    assert [e["Id"][-1] for e in sort_entities(ITEMS, [("When", False)], SCHEMA)] == [
        "a",
        "b",
        "c",
    ]
    with pytest.raises(FilterError, match="cannot order Items by 'Name'"):
        parse_orderby("Name asc", SCHEMA)
    with pytest.raises(FilterError, match="direction"):
        parse_orderby("When sideways", SCHEMA)


# --------------------------------------------------------------------------------------
# phidown's worked examples (phidown-spec 5.3) against the synthetic archive
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    return Archive(SandboxConfig(seed=3), Path(tmp_path_factory.mktemp("odata")))


def run(records: list[Record], text: str, schema: Schema) -> list[str]:
    predicate = compile_filter(text, schema)
    return sorted(r.id for r in records if predicate(r))


def start(record: Record) -> datetime:
    return record.dates["ContentDate/Start"]


def covers(record: Record, wkt: str) -> bool:
    return shape(record.entity["GeoFootprint"]).intersects(load_wkt(wkt))


def typed(record: Record, name: str) -> object:
    return record.attributes.get(name)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_e1_collection_only(archive: Archive) -> None:
    got = run(archive.product_records, "(Collection/Name eq 'SENTINEL-1')", PRODUCTS)
    expected = sorted(r.id for r in archive.product_records if r.name.startswith("S1"))
    assert got == expected
    assert 0 < len(got) < len(archive.product_records)


def e2(product_type: str, direction: str, aoi: str, begin: str, end: str) -> str:
    return (
        "(Collection/Name eq 'SENTINEL-1') and "
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
        f"att/OData.CSC.StringAttribute/Value eq '{product_type}') and "
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'orbitDirection' and "
        f"att/OData.CSC.StringAttribute/Value eq '{direction}') and "
        f"OData.CSC.Intersects(area=geography'SRID=4326;{aoi}') and "
        f"ContentDate/Start ge {begin} and ContentDate/Start lt {end}"
    )


@pytest.mark.parametrize("direction", ["ASCENDING", "DESCENDING"])
def test_e2_slc_polygon_dates(archive: Archive, direction: str) -> None:
    aoi = "POLYGON((10 45, 12 45, 12 46, 10 46, 10 45))"
    text = e2("IW_SLC__1S", direction, aoi, "2024-08-01T00:00:00", "2024-08-31T23:59:59")
    got = run(archive.product_records, text, PRODUCTS)
    expected = sorted(
        r.id
        for r in archive.product_records
        if typed(r, "productType") == "IW_SLC__1S"
        and typed(r, "orbitDirection") == direction
        and covers(r, aoi)
        and utc(2024, 8, 1) <= start(r) < utc(2024, 8, 31, 23, 59, 59)
    )
    # The archive's Po Valley stacks fly over this square every 12 days both ways.
    assert got == expected and len(got) >= 2
    # phidown's literal short code matches nothing, as on CDSE.
    short = e2("SLC", direction, aoi, "2024-08-01T00:00:00", "2024-08-31T23:59:59")
    assert run(archive.product_records, short, PRODUCTS) == []


def test_e3_sentinel2_cloud_and_typed_attributes(archive: Archive) -> None:
    l2a = [r for r in archive.product_records if typed(r, "productType") == "S2MSI2A"]
    sample = min(l2a, key=lambda r: typed(r, "cloudCover"))  # type: ignore[arg-type,return-value]
    day = start(sample).replace(hour=0, minute=0, second=0, microsecond=0)
    begin, end = day - timedelta(days=2), day + timedelta(days=2)
    threshold = round(float(typed(sample, "cloudCover")) + 0.5, 1)  # type: ignore[arg-type]
    text = (
        "(Collection/Name eq 'SENTINEL-2') and "
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
        "att/OData.CSC.StringAttribute/Value eq 'S2MSI2A') and "
        "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and "
        f"att/OData.CSC.DoubleAttribute/Value lt {threshold}) and "
        f"ContentDate/Start ge {begin:%Y-%m-%dT%H:%M:%S.000Z} and "
        f"ContentDate/Start lt {end:%Y-%m-%dT%H:%M:%S.000Z} and "
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'tileId' and "
        f"att/OData.CSC.StringAttribute/Value eq '{typed(sample, 'tileId')}') and "
        "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'relativeOrbitNumber' and "
        f"att/OData.CSC.IntegerAttribute/Value eq {typed(sample, 'relativeOrbitNumber')})"
    )
    got = run(archive.product_records, text, PRODUCTS)
    expected = sorted(
        r.id
        for r in l2a
        if typed(r, "cloudCover") < threshold  # type: ignore[operator]
        and begin <= start(r) < end
        and typed(r, "tileId") == typed(sample, "tileId")
        and typed(r, "relativeOrbitNumber") == typed(sample, "relativeOrbitNumber")
    )
    assert sample.id in got
    assert got == expected
    # phidown's E3 also asks for an attribute no S2 product has: nothing matches.
    extra = (
        " and Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq "
        "'illuminationZenithAngle' and att/OData.CSC.DoubleAttribute/Value eq 30.5)"
    )
    assert run(archive.product_records, text + extra, PRODUCTS) == []


def test_e4_every_burst_field(archive: Archive) -> None:
    burst = archive.burst_records[len(archive.burst_records) // 2].entity
    aoi = shape(burst["GeoFootprint"]).representative_point()
    day = datetime.fromisoformat(burst["ContentDate"]["Start"].replace("Z", "+00:00"))
    text = (
        f"OrbitDirection eq '{burst['OrbitDirection']}' and "
        f"OData.CSC.Intersects(area=geography'SRID=4326;POINT({aoi.x} {aoi.y})') and "
        f"ContentDate/Start ge {day - timedelta(days=1):%Y-%m-%dT%H:%M:%S} and "
        f"ContentDate/Start le {day + timedelta(days=1):%Y-%m-%dT%H:%M:%S} and "
        f"BurstId eq {burst['BurstId']} and AbsoluteBurstId eq {burst['AbsoluteBurstId']} and "
        f"SwathIdentifier eq '{burst['SwathIdentifier']}' and "
        f"ParentProductName eq '{burst['ParentProductName']}' and "
        f"ParentProductType eq 'IW_SLC__1S' and "
        f"ParentProductId eq '{burst['ParentProductId']}' and "
        f"DatatakeID eq {burst['DatatakeID']} and "
        f"RelativeOrbitNumber eq {burst['RelativeOrbitNumber']} and "
        "OperationalMode eq 'IW' and "
        f"PolarisationChannels eq '{burst['PolarisationChannels']}' and "
        "PlatformSerialIdentifier eq 'A'"
    )
    assert run(archive.burst_records, text, BURSTS) == [burst["Id"]]
    # The verbatim E4 (a made-up parent name) is valid and simply matches nothing.
    verbatim = (
        "OrbitDirection eq 'DESCENDING' and "
        "OData.CSC.Intersects(area=geography'SRID=4326;POINT(12.5 41.9)') and "
        "ContentDate/Start ge 2024-08-01T00:00:00 and ContentDate/Start le 2024-08-15T00:00:00 "
        "and BurstId eq 15804 and AbsoluteBurstId eq 118199090 and SwathIdentifier eq 'IW2' "
        "and ParentProductName eq 'S1A_X.SAFE' and ParentProductType eq 'IW_SLC__1S' and "
        "ParentProductId eq 'e463365f-728b-4890-b123-97c76941c878' and DatatakeID eq 40352 "
        "and RelativeOrbitNumber eq 8 and OperationalMode eq 'IW' and "
        "PolarisationChannels eq 'VV' and PlatformSerialIdentifier eq 'A'"
    )
    assert run(archive.burst_records, verbatim, BURSTS) == []


def test_bursts_by_place_and_polarisation(archive: Archive) -> None:
    text = (
        "OrbitDirection eq 'ASCENDING' and PolarisationChannels eq 'VV' and "
        "OData.CSC.Intersects(area=geography'SRID=4326;POINT(11 45.5)')"
    )
    got = run(archive.burst_records, text, BURSTS)
    expected = sorted(
        r.id
        for r in archive.burst_records
        if r.entity["OrbitDirection"] == "ASCENDING"
        and r.entity["PolarisationChannels"] == "VV"
        and shape(r.entity["GeoFootprint"]).intersects(Point(11, 45.5))
    )
    assert got == expected and len(got) >= 5


def test_e5_grd_page(archive: Archive) -> None:
    text = (
        "(Collection/Name eq 'SENTINEL-1') and "
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
        "att/OData.CSC.StringAttribute/Value eq 'IW_GRDH_1S')"
    )
    predicate = compile_filter(text, PRODUCTS)
    matches = [r for r in archive.product_records if predicate(r)]
    ordered = sort_entities(matches, parse_orderby("ContentDate/Start desc", PRODUCTS), PRODUCTS)
    starts = [start(r) for r in ordered]
    assert starts == sorted(starts, reverse=True)
    assert {r.id for r in matches} == {
        r.id for r in archive.product_records if "_IW_GRDH_1S" in r.name
    }
    assert len(ordered[20:30]) == 10  # the page E5 asks for exists
