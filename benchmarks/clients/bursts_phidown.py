"""Burst download client for phidown 0.1.30, run in phidown's venv, pointed at the sandbox.

phidown has no setting for its burst and token URLs: ``download_burst_on_demand`` POSTs to
the literal ``https://catalogue.dataspace.copernicus.eu/odata/v1/Bursts(<id>)/$value``, and
``TokenManager`` binds ``downloader.TOKEN_URL`` as a default argument when the module loads,
so changing the module constant afterwards has no effect. This driver therefore rewrites
those two URL prefixes inside ``requests`` (every phidown call goes through
``requests.Session.request``) to the sandbox's; nothing else of phidown is touched.

Args (JSON, argv[1]): ``{"entities": <file>, "out": <folder>, "limit": int,
"catalogue_url", "token_url", "username", "password"}``.
Prints: ``{"downloaded", "failed", "files", "seconds", "bursts"}``.
"""

import json
import logging
import os
import sys
import time

import pandas as pd
import requests

CDSE_CATALOGUE = "https://catalogue.dataspace.copernicus.eu/odata/v1"
CDSE_TOKEN = (
    "https://identity.dataspace.copernicus.eu/auth/realms/cdse/protocol/openid-connect/token"
)


def _point_requests_at(catalogue_url: str, token_url: str) -> None:
    original = requests.sessions.Session.request

    def request(self, method, url, *args, **kwargs):
        if url.startswith(CDSE_TOKEN):
            url = token_url + url[len(CDSE_TOKEN) :]
        elif url.startswith(CDSE_CATALOGUE):
            url = catalogue_url + url[len(CDSE_CATALOGUE) :]
        return original(self, method, url, *args, **kwargs)

    requests.sessions.Session.request = request


def main() -> None:
    args = json.loads(sys.argv[1])
    _point_requests_at(args["catalogue_url"], args["token_url"])
    from phidown.search import CopernicusDataSearcher

    logging.disable(logging.CRITICAL)  # phidown logs every burst at INFO
    with open(args["entities"]) as handle:
        entities = json.load(handle)[: args["limit"]]
    df = pd.DataFrame(entities)
    searcher = CopernicusDataSearcher()
    started = time.perf_counter()
    result = searcher.download_bursts(
        df=df,
        output_dir=args["out"],
        username=args["username"],
        password=args["password"],
        verbose=False,
    )
    seconds = time.perf_counter() - started
    report = {
        "downloaded": result["downloaded"],
        "failed": result["failed"],
        "files": sum(1 for name in os.listdir(args["out"]) if name.endswith(".zip")),
        "seconds": seconds,
        "bursts": len(entities),
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
