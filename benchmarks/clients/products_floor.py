"""The floor of a Python client (a diagnostic): the standard library and nothing else.

A password-grant token, then one thread per product: ``http.client`` sends the GET with
``Authorization: Bearer`` and the body is read with ``readinto`` into a 1 MiB buffer and
written to a file. No resume, no retry, no events: the least any Python client does to move
the bytes. With ``"blake3": true`` every byte is also hashed and the digest compared with the
catalogue's BLAKE3: the least a client that checks the catalogue's checksum does.

Args (JSON, argv[1]): ``{"token_url", "username", "password", "out", "blake3": bool,
"items": [{"url", "name", "blake3"}]}``; HTTPS trusts ``SSL_CERT_FILE``.
Prints: ``{"downloaded", "failed", "bytes", "seconds", "cpu", "failures"}``.
"""

import http.client
import json
import os
import resource
import ssl
import sys
import threading
import time
import urllib.parse

from blake3 import blake3

CHUNK = 1 << 20


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _connection(url: str, tls: ssl.SSLContext) -> tuple[http.client.HTTPConnection, str]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, context=tls, timeout=60)
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    return conn, parts.path


def _token(args: dict, tls: ssl.SSLContext) -> str:
    conn, path = _connection(args["token_url"], tls)
    form = urllib.parse.urlencode(
        {
            "grant_type": "password",
            "client_id": "cdse-public",
            "username": args["username"],
            "password": args["password"],
        }
    )
    conn.request("POST", path, form, {"Content-Type": "application/x-www-form-urlencoded"})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"token: HTTP {response.status}")
    token = json.loads(response.read())["access_token"]
    conn.close()
    return token


def _fetch(item: dict, token: str, args: dict, tls: ssl.SSLContext) -> int:
    conn, path = _connection(item["url"], tls)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    if response.status != 200:
        raise RuntimeError(f"HTTP {response.status}")
    digest = blake3() if args.get("blake3") else None
    buffer = memoryview(bytearray(CHUNK))
    written = 0
    with open(os.path.join(args["out"], item["name"]), "wb") as handle:
        while got := response.readinto(buffer):
            handle.write(buffer[:got])
            if digest is not None:
                digest.update(buffer[:got])
            written += got
    conn.close()
    if digest is not None and digest.hexdigest() != item["blake3"]:
        raise RuntimeError("BLAKE3 differs from the catalogue's")
    return written


def main() -> None:
    args = json.loads(sys.argv[1])
    os.makedirs(args["out"], exist_ok=True)
    cpu_before, started = _cpu(), time.perf_counter()
    tls = ssl.create_default_context()  # honours SSL_CERT_FILE
    token = _token(args, tls)
    results: dict[str, int | Exception] = {}

    def run(item: dict) -> None:
        try:
            results[item["name"]] = _fetch(item, token, args, tls)
        except Exception as exc:  # a failed product is a result, not the end of the run
            results[item["name"]] = exc

    threads = [threading.Thread(target=run, args=(item,)) for item in args["items"]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failures = [f"{name}: {r}" for name, r in results.items() if isinstance(r, Exception)]
    report = {
        "downloaded": len(results) - len(failures),
        "failed": len(failures),
        "bytes": sum(r for r in results.values() if isinstance(r, int)),
        "seconds": time.perf_counter() - started,
        "cpu": _cpu() - cpu_before,
        "failures": failures[:10],
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
