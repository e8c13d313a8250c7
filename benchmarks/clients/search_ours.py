"""Search client for this project, pointed at the sandbox by the PHIDOWN_* environment.

Args (JSON, argv[1]): ``{"query": {query_by_filter kwargs}, "connections": int | null}``.
Without ``connections`` it uses the sync facade exactly as a phidown script would (default
limits: 4 connections, the CDSE quota); with it, the async API with that connection budget.
Prints: ``{"rows", "unique", "reported", "seconds", "incomplete", "coverage"}``.
"""

import json
import sys
import time

import anyio

from phidown_async.catalogue.search import Search
from phidown_async.config import Endpoints, Limits
from phidown_async.facade.searcher import CopernicusDataSearcher
from phidown_async.query.parameters import validate_search
from phidown_async.session import Session


async def _search(query: dict, connections: int):
    params = validate_search(**query)
    async with Session(Endpoints.from_env(), limits=Limits(connections=connections)) as session:
        search = Search(session, params)
        df = await search.frame()
        return df, search.reported_count or 0


def main() -> None:
    args = json.loads(sys.argv[1])
    query, connections = args["query"], args.get("connections")
    started = time.perf_counter()
    if connections:
        df, reported = anyio.run(_search, query, connections)
    else:
        searcher = CopernicusDataSearcher()
        searcher.query_by_filter(**query)
        df = searcher.execute_query()
        reported = searcher.num_results
    seconds = time.perf_counter() - started
    report = {
        "rows": len(df),
        "unique": int(df["Id"].nunique()) if "Id" in df.columns else 0,
        "reported": int(reported),
        "seconds": seconds,
        "incomplete": bool(df.attrs.get("incomplete", False)),
        "coverage": "coverage" in df.columns and bool(df["coverage"].notna().any()),
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
