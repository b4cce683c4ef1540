"""Synthetic training data: generation, filters, hard negatives, splits."""

import multiprocessing

# distilabel starts its workers with the default start method, chosen when distilabel is
# imported. Forking a process that has threads of its own (a Dagster run, ZenML, pytest)
# can leave a worker deadlocked on a lock held at fork time, and the pipeline's teardown
# then waits forever. A fork server is a fresh single-threaded process; set it before any
# module of this package imports distilabel.
if multiprocessing.get_start_method(allow_none=True) != "forkserver":
    multiprocessing.set_start_method("forkserver", force=True)
