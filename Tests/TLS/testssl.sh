#!/bin/sh
# `make testssl`: testssl.sh (Debian's package) against chatd's TLS chat port and its HTTPS web
# port, with a certificate from a throwaway CA. Prints testssl.sh's findings and a summary of
# everything it rated below OK; the full reports land in .build/testssl/. Not part of make test
# (it takes minutes and judges configuration, not behaviour).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/.build/testssl"
rm -rf "$out" && mkdir -p "$out/state" && chmod 700 "$out"
cd "$out"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
    -subj "/CN=chatd testssl CA" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out server.pem 2>/dev/null
cat > chatd.json <<JSON
{"tls": {"certificate": "$out/server.pem", "key": "$out/server.key"}}
JSON
"$root/.build/debug/chatd" --config chatd.json --listen 127.0.0.1:0 --tls-listen 127.0.0.1:46697 \
    --web-tls-listen 127.0.0.1:48443 --admin-socket "$out/admin.sock" --state-directory "$out/state" > chatd.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for i in $(seq 100); do grep -q "serving the web client on https" chatd.log && break; sleep 0.1; done
status=0
for target in 46697 48443; do
    testssl --quiet --color 0 --warnings off --add-ca "$out/ca.pem" --jsonfile "$out/port-$target.json" \
        "127.0.0.1:$target" > "$out/port-$target.txt" 2>&1 || true
    echo "== 127.0.0.1:$target: findings rated LOW or worse (testssl.sh $(testssl --version 2>/dev/null | grep -o 'testssl.sh *[0-9.]*' | head -1))"
    python3 - "$out/port-$target.json" <<'PY' || status=1
import json, sys
findings = json.load(open(sys.argv[1]))
# The certificate is a throwaway from a private CA, valid two days, with no OCSP or CRL and no
# CAA record: what testssl.sh says of it is said of the test, not of chatd.
about_certificate = lambda f: f["id"].startswith("cert_") or f["id"] in ("DNS_CAArecord",)
# Accepted, and why (docs/SECURITY.md): swift-nio-ssl offers no server cipher order, and every
# suite chatd allows is ECDHE with an AEAD cipher, so the client's choice is never a weak one.
accepted = {"cipher_order"}
bad = [f for f in findings if f.get("severity") in ("LOW", "MEDIUM", "HIGH", "CRITICAL")]
for f in bad:
    note = " (the test's certificate)" if about_certificate(f) else " (accepted: SECURITY.md)" if f["id"] in accepted else ""
    print(f"  {f['severity']:8} {f['id']}: {f['finding']}{note}")
print(f"  {len(bad)} of {len(findings)} checks rated LOW or worse")
sys.exit(1 if any(f["severity"] in ("HIGH", "CRITICAL") and not about_certificate(f) and f["id"] not in accepted for f in bad) else 0)
PY
done
exit $status
