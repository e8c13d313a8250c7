"""Client scripts the benchmarks run in subprocesses (each prints one JSON line last).

They are run as scripts (``python benchmarks/clients/<name>.py '<json args>'``), some with
another interpreter (phidown's own venv), so they import nothing from ``benchmarks``.
"""
