"""The fast tier (`pytest -m "not slow"`) holds a time limit per test; the full suite runs everything."""

from conftest import ROOT

SLOW_AND_FAST = '''
import time

import pytest


@pytest.fixture
def slow_setup():
    time.sleep(0.4)


def test_quick():
    pass


def test_unmarked_but_slow():
    time.sleep(0.4)


def test_slow_in_a_fixture(slow_setup):
    pass


@pytest.mark.slow
def test_marked_slow():
    time.sleep(0.4)
'''


def _run(pytester, monkeypatch, *args):
    monkeypatch.setenv("ROBUSTREPRO_FAST_LIMIT_S", "0.2")
    pytester.makeconftest((ROOT / "tests" / "conftest.py").read_text())
    pytester.makeini("[pytest]\nmarkers =\n    slow: end-to-end\n")
    pytester.makepyfile(test_demo=SLOW_AND_FAST)
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)


def test_an_unmarked_test_over_the_limit_fails_the_fast_tier(pytester, monkeypatch):
    result = _run(pytester, monkeypatch, "-m", "not slow")
    result.assert_outcomes(passed=1, failed=2, deselected=1)
    result.stdout.fnmatch_lines(["*test_unmarked_but_slow took 0.* s in the fast tier (limit 0.2 s): mark it "
                                 "@pytest.mark.slow, or make it faster*"])


def test_the_full_suite_holds_no_time_limit(pytester, monkeypatch):
    _run(pytester, monkeypatch).assert_outcomes(passed=4)
