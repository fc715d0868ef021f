"""Plain helpers shared by test modules (no tests, no fixtures: fixtures live in conftest.py files).

``tests/`` is on ``sys.path`` (pyproject's ``pythonpath``), so a test imports these as
``from helpers.paths import SHARED_DATA``.
"""
