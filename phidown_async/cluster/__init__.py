"""A pull spread over a Dask cluster (the ``dask`` extra): the client plans and keeps the
ledger; workers hold the engine's sessions and fetch items; one `distributed.Semaphore`
per account bounds its connections across the cluster.

`client.download_on_cluster` is what ``download_products(..., cluster=client)`` runs;
`worker` is what runs on the workers; `start.open_cluster` is the CLI's ``--cluster``.
"""
