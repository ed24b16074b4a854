#!/usr/bin/env python3
"""Counts test results of one or more meson build dirs and prints the final
line `N passed, N failed`. A pytest file counts each of its test cases (from
its junit XML); any other meson test counts as one. Exits 1 if any failed."""
import json
import os
import sys
import xml.etree.ElementTree as ET

passed = failed = 0
for build in sys.argv[1:]:
    log = os.path.join(build, "meson-logs", "testlog.json")
    if not os.path.exists(log):
        print(f"{build}: no test log", file=sys.stderr)
        failed += 1
        continue
    for line in open(log):
        t = json.loads(line)
        ok = t["result"] in ("OK", "EXPECTEDFAIL", "SKIP")
        # meson names a test "project:suite / name"
        name = t["name"].rsplit(" / ", 1)[-1]
        junit = os.path.join(build, "tests", f"junit-{name}.xml")
        if (":blackbox" in t["name"] or ":cluster" in t["name"]) and os.path.exists(junit):
            root = ET.parse(junit).getroot()
            suites = [root] if root.tag == "testsuite" else list(root)
            # a skipped case (e.g. single_redis_only on a cluster) is neither passed nor failed
            n = sum(int(s.get("tests", 0)) - int(s.get("skipped", 0)) for s in suites)
            bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
            if not ok and bad == 0:
                bad = 1  # the file failed outside a test case (crash, timeout)
            passed += n - min(bad, n)
            failed += bad
        else:
            passed += ok
            failed += not ok
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
