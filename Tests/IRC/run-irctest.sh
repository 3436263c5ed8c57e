#!/bin/sh
# make irctest: irctest, an independent IRC server conformance suite (PyPI, 0.1.2), against
# chatd's IRC listener and, for comparison, against ngIRCd (Debian's), one after the other.
# Prints each server's tally; the full logs are in .build/irctest/. Not part of make test:
# a few of its tests wait out long timeouts on purpose.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
work="$root/.build/irctest"
mkdir -p "$work"
[ -x "$work/venv/bin/python" ] || python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q limnoria psutil ecdsa
if [ ! -d "$work/irctest-0.1.2" ]; then
	# The sdist's setup.py reads a requirements.txt it does not ship, so pip cannot install it:
	# fetch it from PyPI's index and run it in place.
	url=$("$work/venv/bin/python" - <<'PY'
import json, urllib.request
request = urllib.request.Request("https://pypi.org/simple/irctest/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
files = json.load(urllib.request.urlopen(request, timeout=60))["files"]
print(next(f["url"] for f in files if f["filename"] == "irctest-0.1.2.tar.gz"))
PY
)
	curl -sSf -o "$work/irctest.tar.gz" "$url"
	tar xzf "$work/irctest.tar.gz" -C "$work"
fi
cd "$work/irctest-0.1.2"
for server in ${IRCTEST_SERVERS:-chatd ngircd}; do
	log="$work/$server.log"
	PYTHONPATH="$root/Tests/IRC:." CHATD="$root/.build/debug/chatd" "$work/venv/bin/python" -m irctest "irctest_$server" -v >"$log" 2>&1 || true
	ran=$(sed -n 's/^Ran \([0-9]*\) tests.*/\1/p' "$log")
	passed=$(grep -c ' \.\.\. ok$' "$log" || true)
	failed=$(grep -c '^FAIL:\|^ERROR:' "$log" || true)
	skipped=$(grep -c ' \.\.\. skipped' "$log" || true)
	echo "$server: $ran tests, $passed passed, $failed failed, $skipped skipped (not supported by the server or the controller); log: $log"
	grep '^FAIL:\|^ERROR:' "$log" | sed 's/^/    /' || true
done
