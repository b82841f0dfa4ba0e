"""`batchspec view`: a local, read-only web page over a job's state, record by record."""
