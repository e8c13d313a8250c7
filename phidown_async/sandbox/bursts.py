"""On-demand burst extraction: ``POST Bursts(<id>)/$value``.

On the catalogue origin the POST first answers 307 to the same path on the download origin
when ``burst_redirect`` is set (the client re-POSTs with its token, as CDSE's notebook does);
otherwise the catalogue origin serves the burst itself. Serving means: token check (the
download service's 401 bodies), 404 ``{"detail": "Burst not found"}`` for unknown bursts,
the user's connection quota (the processing wait counts as a connection), ``burst_delay``
seconds of "processing", then 200 with the zip and an unquoted
``Content-Disposition: attachment; filename=<name>.zip``, as the real service sends it.
Range requests are honoured; faults apply as on products.
"""

from __future__ import annotations

from pathlib import Path

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .download import Downloads, FileBody, quota_exceeded, redirect_to
from .faults import BODY_FAULTS

BURST_VALUE_PATH = "/odata/v1/Bursts({burst_id})/$value"


class Bursts:
    """The burst routes, built on the product download machinery.

    Args:
        downloads: shares its archive, tokens, quota, fault injector and body streamer.
    """

    def __init__(self, downloads: Downloads) -> None:
        self.downloads = downloads

    def catalogue_routes(self) -> list[Route]:
        """The POST on the catalogue origin (redirects or serves, per ``burst_redirect``)."""
        return [Route(BURST_VALUE_PATH, self._catalogue, methods=["POST"])]

    def download_routes(self) -> list[Route]:
        """The POST on the download origin (always serves)."""
        return [Route(BURST_VALUE_PATH, self._serve, methods=["POST"])]

    async def _catalogue(self, request: Request) -> Response | FileBody:
        if self.downloads.settings().burst_redirect:
            return redirect_to(self.downloads.download_origin, request, 307)
        return await self._serve(request)

    async def _serve(self, request: Request) -> Response | FileBody:
        d = self.downloads
        burst_id = request.path_params["burst_id"]
        user, refusal = d.authorize(request)
        if refusal is not None:
            return refusal
        assert user is not None
        if d.archive.burst(burst_id) is None:
            return JSONResponse({"detail": "Burst not found"}, status_code=404)
        if not d.quota.try_acquire(user):
            return quota_exceeded()
        try:
            delay = d.settings().burst_delay
            if delay > 0:
                await anyio.sleep(delay)
            name, path = await anyio.to_thread.run_sync(d.archive.burst_zip, burst_id)
            fault = d.injector.draw(burst_id)
            if fault is not None and fault not in BODY_FAULTS:
                d.quota.release(user)
                return d.status_fault(fault, user)
            filename = name if name.endswith(".zip") else f"{name}.zip"
            stat = Path(path).stat()
            return d.body(
                request,
                path=Path(path),
                item_id=burst_id,
                user=user,
                fault=fault,
                headers={
                    "Content-Type": "application/zip",
                    "Content-Disposition": f"attachment; filename={filename}",
                },
                # Burst zips have no catalogue checksum; size and mtime identify the file.
                etag=f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"',
                range_mode="honor",
            )
        except BaseException:
            d.quota.release(user)
            raise
