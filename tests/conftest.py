"""Shared test set-up."""

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def one_thread():
    """One BLAS/OpenMP thread: the many small model fits of the tests run several times faster than with
    oversubscribed threads on a loaded 2-core machine (histogram gradient boosting up to 30 times)."""
    with threadpool_limits(1):
        yield
