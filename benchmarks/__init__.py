"""Side-by-side benchmarks of phidown_async against peer tools, on the loopback sandbox.

``python -m benchmarks [search|products|bursts] [--quick]`` (``make bench`` runs all):

- ``search`` (issue 3): a 10,000-result query with 150 ms page latency, against phidown 0.1.30;
- ``products`` (issue 4): throughput under the 4 x 20 MB/s quota, unthrottled MB/s and CPU
  per GB, and peak memory, against aria2c, curl and a requests-threads client;
- ``bursts`` (issue 5): 200 on-demand bursts with 1 s processing and a quota of 4, against
  phidown 0.1.30's sequential ``download_bursts``.

The sandbox runs in its own process (`benchmarks.sandbox`); clients run in their own
processes (`benchmarks.clients`) and are measured with ``wait4`` (`benchmarks.measure`).
Scratch data (sandbox archives, peer venvs, downloads) lives in ``benchmarks/work/``.
"""
