"""Tiny SAFE products for the verification tests: a manifest writer and a zip builder."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

ROOT = "S1A_IW_GRDH_1SDV_20241217T061735_20241217T061800_057028_07020F_TEST.SAFE"
MEASUREMENT = "measurement/s1a-iw-grd-vv-001.tiff"
ANNOTATION = "annotation/s1a-iw-grd-vv-001.xml"


def payloads() -> dict[str, bytes]:
    """The product's data files by path inside its folder."""
    return {
        MEASUREMENT: b"MEASUREMENT-BLOCK-" * 4000,
        ANNOTATION: b"<product><adsHeader>annotation</adsHeader></product>\n" * 50,
        "preview/quick-look.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8,
    }


def manifest_xml(entries: list[tuple[str, str, str]], algorithm: str = "MD5") -> bytes:
    """A SAFE manifest listing (href, size, checksum) entries."""
    objects = "\n".join(
        f"""    <dataObject ID="obj{i}" repID="s1Level1ProductSchema">
      <byteStream mimeType="application/octet-stream" size="{size}">
        <fileLocation locatorType="URL" href="{href}"/>
        <checksum checksumName="{algorithm}">{checksum}</checksum>
      </byteStream>
    </dataObject>"""
        for i, (href, size, checksum) in enumerate(entries)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1" version="esa/safe/sentinel-1.0">\n'
        "  <informationPackageMap/>\n  <metadataSection/>\n"
        f"  <dataObjectSection>\n{objects}\n  </dataObjectSection>\n</xfdu:XFDU>\n"
    ).encode()


def _digest(data: bytes, algorithm: str, upper: bool) -> str:
    value = hashlib.sha3_256(data) if algorithm == "SHA3-256" else hashlib.md5(data)
    return value.hexdigest().upper() if upper else value.hexdigest()


def build_zip(
    path: Path,
    files: dict[str, bytes] | None = None,
    *,
    listed: dict[str, tuple[int, str]] | None = None,
    algorithm: str = "MD5",
    upper: bool = False,
    extra: dict[str, bytes] | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
    root: str = ROOT,
) -> Path:
    """A SAFE product zip; ``listed`` overrides (size, checksum) written in the manifest."""
    files = payloads() if files is None else files
    entries = []
    for rel, data in files.items():
        size, checksum = len(data), _digest(data, algorithm, upper)
        if listed and rel in listed:
            size, checksum = listed[rel]
        entries.append((f"./{rel}", str(size), checksum))
    with zipfile.ZipFile(path, "w", compression) as archive:
        archive.writestr(f"{root}/manifest.safe", manifest_xml(entries, algorithm))
        for rel, data in files.items():
            archive.writestr(f"{root}/{rel}", data)
        archive.writestr(f"{root}/support/s1-level-1-product.xsd", b"<xsd:schema/>")
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return path
