"""The "CDSETool-style" peer: requests, a token, N threads each streaming one product.

Written for this benchmark (not taken from CDSETool): a password-grant token, then a
ThreadPoolExecutor of ``threads`` workers, each GETting one product from the download host
with ``Authorization: Bearer`` and writing ``iter_content(1 MiB)`` chunks to a file.
No resume, no checksum, no retry: the plain way most scripts do it.

Args (JSON, argv[1]): ``{"token_url", "username", "password", "threads", "out",
"items": [{"url", "name"}]}``.
Prints: ``{"downloaded", "failed", "bytes", "seconds", "cpu", "failures"}``.
"""

import json
import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import requests

CHUNK = 1 << 20


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _token(args: dict) -> str:
    form = {
        "grant_type": "password",
        "client_id": "cdse-public",
        "username": args["username"],
        "password": args["password"],
    }
    response = requests.post(args["token_url"], data=form, timeout=30)
    response.raise_for_status()
    return response.json()["access_token"]


def _fetch(session: requests.Session, token: str, url: str, path: str) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    written = 0
    with session.get(url, headers=headers, stream=True, timeout=60) as response:
        response.raise_for_status()
        with open(path, "wb") as handle:
            for chunk in response.iter_content(CHUNK):
                handle.write(chunk)
                written += len(chunk)
    return written


def main() -> None:
    args = json.loads(sys.argv[1])
    os.makedirs(args["out"], exist_ok=True)
    cpu_before, started = _cpu(), time.perf_counter()
    token = _token(args)
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=args["threads"])
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    done, failures, total = 0, [], 0
    with ThreadPoolExecutor(max_workers=args["threads"]) as pool:
        futures = {
            pool.submit(
                _fetch, session, token, item["url"], os.path.join(args["out"], item["name"])
            ): item["name"]
            for item in args["items"]
        }
        for future, name in futures.items():
            try:
                total += future.result()
                done += 1
            except Exception as exc:  # a failed product is a result, not the end of the run
                failures.append(f"{name}: {exc}")
    report = {
        "downloaded": done,
        "failed": len(failures),
        "bytes": total,
        "seconds": time.perf_counter() - started,
        "cpu": _cpu() - cpu_before,
        "failures": failures[:10],
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
