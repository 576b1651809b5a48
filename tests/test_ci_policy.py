"""The suite-wide policy of tests/conftest.py, run in an inner pytest: in CI a skip is a failure that
names its reason, except for tests marked gpu; outside CI a skip stays a skip."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = (Path(__file__).with_name("conftest.py")).read_text()
TESTS = '''
import pytest

def test_skipped_for_a_missing_tool():
    pytest.skip("needs the frobnicator")

@pytest.mark.gpu
def test_needs_cuda():
    pytest.skip("no CUDA GPU")

def test_runs():
    assert True
'''


@pytest.fixture
def inner(pytester, monkeypatch):
    pytester.makeconftest(CONFTEST.replace('pytest_plugins = ["pytester"]', ""))
    pytester.makeini("[pytest]\nmarkers =\n    gpu: needs a CUDA GPU\n")

    def run(ci: str | None, tests: str = TESTS):
        if ci is None:
            monkeypatch.delenv("CI", raising=False)
        else:
            monkeypatch.setenv("CI", ci)
        pytester.makepyfile(test_inner=tests)
        return pytester.runpytest_subprocess("-rA")

    return run


def test_in_ci_a_skip_fails_with_its_reason_but_a_gpu_skip_stays(inner):
    result = inner("true")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*skipped in CI, where every test must run*needs the frobnicator*"])


def test_outside_ci_skips_stay_skips(inner):
    inner(None).assert_outcomes(passed=1, skipped=2)
    inner("false").assert_outcomes(passed=1, skipped=2)


def test_in_ci_a_module_level_skip_is_a_collection_error(inner):
    result = inner("1", 'import pytest\npytest.importorskip("no_such_module_here")\n\ndef test_x():\n    pass\n')
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*skipped in CI*no_such_module_here*"])
