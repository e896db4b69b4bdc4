"""Prints 'tests: N passed, N failed, N skipped': every GoogleTest case of the
XML reports in RESULTS_DIR, plus every other meson test (the Python and shell
tests, which have no cases of their own) from meson's TESTLOG, one each, so
that a failing script test shows in the count as well as in meson's summary.

Usage: count_test_cases.py RESULTS_DIR TESTLOG_JSON
"""
import json
import os
import pathlib
import sys
import xml.etree.ElementTree as ET

results, testlog = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
passed = failed = skipped = 0
reports = set()
for report in results.glob("*.xml"):
    reports.add(report.stem)
    for case in ET.parse(report).iter("testcase"):
        if case.find("failure") is not None:
            failed += 1
        elif case.find("skipped") is not None or case.get("result") == "skipped":
            skipped += 1
        else:
            passed += 1
if testlog.is_file():
    for line in testlog.read_text().splitlines():
        test = json.loads(line)
        command = test.get("command") or [""]
        executable = os.path.basename(command[0])
        if executable in reports:
            # A GoogleTest binary: counted case by case above, unless it
            # died before writing its report (then it counts as failed).
            continue
        if test["result"] == "OK":
            passed += 1
        elif test["result"] == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
