"""Import before distilabel: its workers must start from a fork server.

distilabel takes the default multiprocessing start method when it is imported. Forking a
process that has threads of its own (a Dagster run, ZenML, pytest) can leave a worker
deadlocked on a lock held at fork time, and the pipeline's teardown then waits forever. A
fork server is a fresh single-threaded process. Only the modules that import distilabel
import this one, so nothing else changes the process's start method.
"""

import multiprocessing

if multiprocessing.get_start_method(allow_none=True) != "forkserver":
    multiprocessing.set_start_method("forkserver", force=True)
