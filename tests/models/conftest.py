"""Fixtures for the model tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Batches of 2 gain nothing from a second thread, and on shared cores its spin-waits cost seconds per model."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
