"""Search client for phidown 0.1.30, run in phidown's own venv, pointed at the sandbox.

phidown takes the catalogue through ``query_by_filter(base_url=...)`` (product mode).
Args (JSON, argv[1]): ``{"base_url": ..., "query": {query_by_filter kwargs}, "coverage": bool}``;
``coverage: false`` hides shapely, as on a plain ``pip install phidown`` (no coverage column).
Prints: ``{"rows", "unique", "reported", "seconds", "page_warnings", "coverage"}``; phidown
prints one ``Warning: Error retrieving page`` line per page it dropped, counted from stdout.
"""

import contextlib
import io
import json
import sys
import time


def main() -> None:
    args = json.loads(sys.argv[1])
    if not args.get("coverage", True):
        sys.modules["shapely"] = None  # makes "import shapely" fail, as when not installed
    from phidown.search import CopernicusDataSearcher

    searcher = CopernicusDataSearcher()
    captured = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(captured):
        searcher.query_by_filter(base_url=args["base_url"], **args["query"])
        df = searcher.execute_query()
    seconds = time.perf_counter() - started
    report = {
        "rows": len(df),
        "unique": int(df["Id"].nunique()) if "Id" in df.columns else 0,
        "reported": int(searcher.num_results),
        "seconds": seconds,
        "page_warnings": captured.getvalue().count("Error retrieving page"),
        "coverage": "coverage" in df.columns and bool(df["coverage"].notna().any()),
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
