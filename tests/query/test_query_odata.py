"""OData filters and URLs: phidown's worked examples (spec §5.3) byte for byte, plus the fixes."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, unquote, urlsplit

import httpx
import pytest

from phidown_async.config import DEFAULT_CATALOGUE_URL
from phidown_async.errors import QueryError, QueryTypeError
from phidown_async.query import (
    SearchParams,
    Window,
    build_filter,
    build_params,
    build_url,
    collection_url,
    format_datetime,
    name_params,
    name_pattern_filter,
    name_pattern_params,
    quote_literal,
    raw_url,
    validate_name_pattern,
    validate_search,
)

PRODUCTS = "https://catalogue.dataspace.copernicus.eu/odata/v1/Products"
BURSTS = "https://catalogue.dataspace.copernicus.eu/odata/v1/Bursts"

SLC_FRAGMENT = (
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and ("
    "att/OData.CSC.StringAttribute/Value eq 'IW_SLC__1S' or "
    "att/OData.CSC.StringAttribute/Value eq 'EW_SLC__1S' or "
    "att/OData.CSC.StringAttribute/Value eq 'S1_SLC__1S' or "
    "att/OData.CSC.StringAttribute/Value eq 'S2_SLC__1S' or "
    "att/OData.CSC.StringAttribute/Value eq 'S3_SLC__1S' or "
    "att/OData.CSC.StringAttribute/Value eq 'S4_SLC__1S' or "
    "att/OData.CSC.StringAttribute/Value eq 'S5_SLC__1S' or "
    "att/OData.CSC.StringAttribute/Value eq 'S6_SLC__1S' or "
    "att/OData.CSC.StringAttribute/Value eq 'WV_SLC__1S'))"
)
GRD_CODES = (
    ["IW_GRDH_1S", "IW_GRDM_1S", "EW_GRDH_1S", "EW_GRDM_1S"]
    + [f"S{n}_GRD{r}_1S" for r in "FHM" for n in range(1, 7)]
    + ["WV_GRDM_1S"]
)
GRD_FRAGMENT = (
    "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and ("
    + " or ".join(f"att/OData.CSC.StringAttribute/Value eq '{code}'" for code in GRD_CODES)
    + "))"
)


def url_of(params: SearchParams, **page) -> str:
    return raw_url(collection_url(params, DEFAULT_CATALOGUE_URL), build_params(params, **page))


def test_e1_constructor_defaults():
    assert url_of(validate_search()) == (
        f"{PRODUCTS}?$filter=(Collection/Name eq 'SENTINEL-1')&$orderby=ContentDate/Start desc"
        "&$top=1000&$expand=Attributes"
    )


def test_e1_wire_form():
    params = validate_search()
    assert build_url(collection_url(params, DEFAULT_CATALOGUE_URL), build_params(params)) == (
        f"{PRODUCTS}?$filter=(Collection/Name%20eq%20'SENTINEL-1')"
        "&$orderby=ContentDate/Start%20desc&$top=1000&$expand=Attributes"
    )


def test_e2_slc_ascending_polygon_dates_with_real_product_codes():
    params = validate_search(
        collection_name="SENTINEL-1",
        product_type="SLC",
        orbit_direction="ASCENDING",
        aoi_wkt="POLYGON((10 45, 12 45, 12 46, 10 46, 10 45))",
        start_date="2024-08-01T00:00:00",
        end_date="2024-08-31T23:59:59",
        top=50,
    )
    assert url_of(params) == (
        f"{PRODUCTS}?$filter=(Collection/Name eq 'SENTINEL-1') and {SLC_FRAGMENT} and "
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'orbitDirection' and "
        "att/OData.CSC.StringAttribute/Value eq 'ASCENDING') and "
        "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON((10 45, 12 45, 12 46, 10 46, "
        "10 45))') and ContentDate/Start ge 2024-08-01T00:00:00 and "
        "ContentDate/Start lt 2024-08-31T23:59:59&$orderby=ContentDate/Start desc&$top=50"
        "&$expand=Attributes"
    )


def test_e3_sentinel2_alias_cloud_cover_typed_attributes_count():
    params = validate_search(
        collection_name="SENTINEL-2",
        product_type="L2A",
        cloud_cover_threshold=10.5,
        attributes={"tileId": "33TUG", "relativeOrbitNumber": 22, "illuminationZenithAngle": 30.5},
        start_date="2024-05-01T00:00:00.000Z",
        end_date="2024-05-05T00:00:00.000Z",
        order_by="PublicationDate asc",
        top=10,
        count=True,
    )
    assert url_of(params) == (
        f"{PRODUCTS}?$filter=(Collection/Name eq 'SENTINEL-2') and "
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
        "att/OData.CSC.StringAttribute/Value eq 'S2MSI2A') and "
        "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and "
        "att/OData.CSC.DoubleAttribute/Value lt 10.5) and "
        "ContentDate/Start ge 2024-05-01T00:00:00.000Z and "
        "ContentDate/Start lt 2024-05-05T00:00:00.000Z and "
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'tileId' and "
        "att/OData.CSC.StringAttribute/Value eq '33TUG') and "
        "Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'relativeOrbitNumber' and "
        "att/OData.CSC.IntegerAttribute/Value eq 22) and "
        "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'illuminationZenithAngle' and "
        "att/OData.CSC.DoubleAttribute/Value eq 30.5)"
        "&$orderby=PublicationDate asc&$top=10&$expand=Attributes&$count=true"
    )


def test_e4_burst_mode_with_every_burst_field():
    params = validate_search(
        collection_name="SENTINEL-2",
        product_type="XYZ",
        cloud_cover_threshold=500,
        attributes={"a": [1]},
        burst_mode=True,
        burst_id=15804,
        absolute_burst_id=118199090,
        swath_identifier="IW2",
        parent_product_name="S1A_X.SAFE",
        parent_product_type="IW_SLC__1S",
        parent_product_id="e463365f-728b-4890-b123-97c76941c878",
        datatake_id=40352,
        relative_orbit_number="8",
        operational_mode="IW",
        polarisation_channels="VV",
        platform_serial_identifier="A",
        orbit_direction="DESCENDING",
        aoi_wkt="POINT(12.5 41.9)",
        start_date="2024-08-01T00:00:00",
        end_date="2024-08-15T00:00:00",
        top=20,
        count=True,
    )
    assert url_of(params) == (
        f"{BURSTS}?$filter=OrbitDirection eq 'DESCENDING' and "
        "OData.CSC.Intersects(area=geography'SRID=4326;POINT(12.5 41.9)') and "
        "ContentDate/Start ge 2024-08-01T00:00:00 and ContentDate/Start le 2024-08-15T00:00:00 "
        "and BurstId eq 15804 and AbsoluteBurstId eq 118199090 and SwathIdentifier eq 'IW2' and "
        "ParentProductName eq 'S1A_X.SAFE' and ParentProductType eq 'IW_SLC__1S' and "
        "ParentProductId eq 'e463365f-728b-4890-b123-97c76941c878' and DatatakeID eq 40352 and "
        "RelativeOrbitNumber eq 8 and OperationalMode eq 'IW' and PolarisationChannels eq 'VV' "
        "and PlatformSerialIdentifier eq 'A'&$orderby=ContentDate/Start desc&$top=20&$count=true"
    )


def test_e5_manual_page_with_real_grd_codes():
    params = validate_search(collection_name="SENTINEL-1", product_type="GRD", top=10, skip=20)
    assert url_of(params) == (
        f"{PRODUCTS}?$filter=(Collection/Name eq 'SENTINEL-1') and {GRD_FRAGMENT}"
        "&$orderby=ContentDate/Start desc&$top=10&$skip=20&$expand=Attributes"
    )


def test_real_s1_code_is_emitted_as_phidown_would():
    params = validate_search(product_type="IW_SLC__1S")
    assert build_filter(params) == (
        "(Collection/Name eq 'SENTINEL-1') and "
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
        "att/OData.CSC.StringAttribute/Value eq 'IW_SLC__1S')"
    )


def test_e6_name_helpers():
    assert raw_url(PRODUCTS, name_params("S1A_X")) == (
        f"{PRODUCTS}?$filter=Name eq 'S1A_X'&$expand=Attributes"
    )
    expected = {
        "exact": "Name eq 'S1A_IW'",
        "contains": "contains(Name,'S1A_IW')",
        "startswith": "startswith(Name,'S1A_IW')",
        "endswith": "endswith(Name,'S1A_IW')",
    }
    for match, fragment in expected.items():
        assert raw_url(PRODUCTS, name_pattern_params("S1A_IW", match)) == (
            f"{PRODUCTS}?$filter={fragment}&$orderby=ContentDate/Start desc&$top=1000"
            "&$expand=Attributes"
        )
    query = validate_name_pattern("T33", "contains", "SENTINEL-1", top=7, order_by="foo bar")
    pairs = name_pattern_params(
        query.pattern, query.match_type, query.collection, top=query.top, order_by=query.order_by
    )
    assert raw_url(PRODUCTS, pairs) == (
        f"{PRODUCTS}?$filter=contains(Name,'T33') and Collection/Name eq 'SENTINEL-1'"
        "&$orderby=foo bar&$top=7&$expand=Attributes"
    )
    assert name_pattern_params(query) == pairs


def test_name_pattern_rejects_unknown_match_type():
    with pytest.raises(QueryError, match="Invalid match_type: like"):
        name_pattern_filter("x", "like")


def test_e7_pagination_urls():
    params = validate_search(count=True, top=5)
    head = f"{PRODUCTS}?$filter=(Collection/Name eq 'SENTINEL-1')&$orderby=ContentDate/Start desc"
    assert url_of(params) == f"{head}&$top=5&$expand=Attributes&$count=true"
    assert url_of(params, skip=5) == f"{head}&$top=5&$skip=5&$expand=Attributes&$count=true"
    assert url_of(params, skip=10) == f"{head}&$top=5&$skip=10&$expand=Attributes&$count=true"


def test_bursts_never_expand_attributes():
    params = validate_search(burst_mode=True, burst_id=1, skip=100, top=50)
    keys = [key for key, _ in build_params(params)]
    assert keys == ["$filter", "$orderby", "$top", "$skip"]


def test_burst_mode_without_any_filter_is_an_error():
    params = validate_search(burst_mode=True)
    with pytest.raises(QueryError) as caught:
        build_filter(params)
    assert str(caught.value) == "No valid filters provided. At least one filter is required."


def test_quotes_are_escaped_in_every_literal():
    assert quote_literal("O'Brien") == "'O''Brien'"
    params = validate_search(attributes={"owner's": "O'Brien"})
    assert build_filter(params).endswith(
        "Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'owner''s' and "
        "att/OData.CSC.StringAttribute/Value eq 'O''Brien')"
    )
    bursts = validate_search(burst_mode=True, parent_product_name="it's.SAFE")
    assert build_filter(bursts) == "ParentProductName eq 'it''s.SAFE'"
    assert name_params("a'b")[0] == ("$filter", "Name eq 'a''b'")
    assert name_pattern_filter("x'", "startswith", "SENTINEL-1") == (
        "startswith(Name,'x''') and Collection/Name eq 'SENTINEL-1'"
    )


def test_offset_survives_encoding():
    params = validate_search(
        start_date="2024-01-01T00:00:00+00:00", end_date="2024-01-02T00:00:00+02:00"
    )
    url = build_url(PRODUCTS, build_params(params))
    assert "%2B00:00" in url
    assert "+" not in url
    decoded = dict(parse_qsl(urlsplit(url).query))
    assert decoded["$filter"] == build_filter(params)
    assert "ContentDate/Start ge 2024-01-01T00:00:00+00:00" in decoded["$filter"]
    assert "ContentDate/Start lt 2024-01-02T00:00:00+02:00" in decoded["$filter"]


def test_special_and_non_ascii_values_are_encoded_and_decode_back():
    params = validate_search(collection_name="SENTINEL-2", attributes={"tileId": "Zürich & #1 50%"})
    url = build_url(PRODUCTS, build_params(params))
    assert "Z%C3%BCrich%20%26%20%231%2050%25" in url
    assert url.count("&") == 3  # only the separators of the four options
    assert unquote(url.split("$filter=")[1].split("&")[0]) == build_filter(params)
    assert dict(parse_qsl(urlsplit(url).query))["$filter"] == build_filter(params)


def test_window_replaces_the_date_fragments_in_place():
    dated = validate_search(
        product_type="IW_SLC__1S",
        aoi_wkt="POINT(1 2)",
        start_date="2020-01-01",
        end_date="2025-01-01",
        attributes={"a": 1},
    )
    window = Window(datetime(2021, 1, 1, tzinfo=UTC), datetime(2021, 7, 1, 12, tzinfo=UTC))
    expected = build_filter(dated).replace(
        "ContentDate/Start ge 2020-01-01 and ContentDate/Start lt 2025-01-01",
        "ContentDate/Start ge 2021-01-01T00:00:00.000000Z and "
        "ContentDate/Start lt 2021-07-01T12:00:00.000000Z",
    )
    assert build_filter(dated, window=window) == expected
    assert "2020-01-01" not in expected
    # Without dates of its own the search gets the window at the same position.
    undated = validate_search(product_type="IW_SLC__1S", aoi_wkt="POINT(1 2)", attributes={"a": 1})
    assert build_filter(undated, window=window) == expected


def test_window_operators_follow_mode_unless_explicit():
    start, end = datetime(2024, 8, 1, tzinfo=UTC), datetime(2024, 8, 2, tzinfo=UTC)
    products = validate_search()
    bursts = validate_search(burst_mode=True)
    assert build_filter(products, window=(start, end)).endswith("lt 2024-08-02T00:00:00.000000Z")
    assert build_filter(bursts, window=(start, end)) == (
        "ContentDate/Start ge 2024-08-01T00:00:00.000000Z and "
        "ContentDate/Start le 2024-08-02T00:00:00.000000Z"
    )
    assert build_filter(bursts, window=Window(start, end, False)).endswith(
        "lt 2024-08-02T00:00:00.000000Z"
    )
    assert build_filter(products, window=Window(start, end, True)).endswith(
        "le 2024-08-02T00:00:00.000000Z"
    )


def test_format_datetime_is_utc_with_microseconds():
    aware = datetime.fromisoformat("2024-08-01T02:00:00.5+02:00")
    assert format_datetime(aware) == "2024-08-01T00:00:00.500000Z"
    assert format_datetime(datetime(2024, 8, 1)) == "2024-08-01T00:00:00.000000Z"


def test_page_overrides_and_bounds():
    params = validate_search(count=False, top=100)
    pairs = dict(build_params(params, skip=10000, top=0, count=True))
    assert (pairs["$skip"], pairs["$top"], pairs["$count"]) == ("10000", "0", "true")
    with pytest.raises(QueryError, match="'skip' parameter must be between 0 and 10000"):
        build_params(params, skip=10001)
    with pytest.raises(QueryError, match="'top' parameter must be between 0 and 1000"):
        build_params(params, top=1001)
    with pytest.raises(QueryTypeError):
        build_params(params, top=True)


def test_collection_url():
    local = "http://127.0.0.1:8080/odata/v1/"
    assert collection_url(validate_search(), local) == "http://127.0.0.1:8080/odata/v1/Products"
    assert collection_url(validate_search(burst_mode=True, burst_id=1), local) == (
        "http://127.0.0.1:8080/odata/v1/Bursts"
    )
    custom = validate_search(base_url="http://127.0.0.1:9/Other")
    assert collection_url(custom, local) == "http://127.0.0.1:9/Other"


def test_built_url_passes_through_httpx_unchanged():
    params = validate_search(
        start_date="2024-01-01T00:00:00+00:00",
        aoi_wkt="POLYGON((10 45, 12 45, 12 46, 10 46, 10 45))",
        attributes={"tileId": "Zürich & #1"},
    )
    url = build_url("http://127.0.0.1:9/odata/v1/Products", build_params(params))
    assert str(httpx.URL(url)) == url
    assert httpx.URL(url).params["$filter"] == build_filter(params)
