"""Async search-and-download engine for the Copernicus Data Space Ecosystem."""
