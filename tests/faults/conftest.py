from tests.e2e.conftest import procs, root  # noqa: F401 (the same real-process fixtures)
