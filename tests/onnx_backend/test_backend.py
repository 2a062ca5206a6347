"""onnx's backend tests against graphdiff (see ``suite.py``); a summary of passes per op is
printed at the end of the run (``conftest.py``)."""

from .suite import make_backend_test

globals().update(make_backend_test().test_cases)
