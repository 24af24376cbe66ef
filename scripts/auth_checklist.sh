#!/usr/bin/env bash
# The identity checklist of the original deployments, against a running Basis server:
#   register, form login, /auth/me, refresh with the cookie jar, logout,
#   the 6th failed login answered 429, and the OpenAPI version.
# Usage: scripts/auth_checklist.sh http://127.0.0.1:8000 [expected-version]
# Exits non-zero at the first check that fails. Needs curl, and jq or python3.
set -euo pipefail

BASE="${1:?usage: $0 BASE_URL [expected-version]}"
BASE="${BASE%/}"
EXPECTED_VERSION="${2:-}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
JAR="$WORK/cookies.txt"
STAMP="$(date +%s)$RANDOM"
EMAIL="checklist-${STAMP}@example.com"
PASSWORD="checklist pass ${STAMP}"
FAILED_EMAIL="nobody-${STAMP}@example.com"

step() { printf '%-44s' "$1"; }
ok() { echo "ok${1:+ ($1)}"; }
fail() { echo "FAILED: $*"; exit 1; }

# request METHOD PATH [curl args...] -> body in $WORK/body, status in $STATUS
request() {
  local method="$1" path="$2"
  shift 2
  STATUS="$(curl -sS -o "$WORK/body" -w '%{http_code}' -X "$method" "$BASE$path" "$@")" || fail "curl $method $path"
}

json() {  # json FIELD.PATH -> value from $WORK/body ("" when absent); jq when there is one
  if command -v jq >/dev/null 2>&1; then
    jq -r ".$1 // empty" "$WORK/body" 2>/dev/null || true
    return
  fi
  python3 - "$1" "$WORK/body" <<'PY'
import json, sys
try:
    value = json.load(open(sys.argv[2]))
except ValueError:
    value = None
for part in sys.argv[1].split("."):
    value = value.get(part) if isinstance(value, dict) else None
print("" if value is None else value)
PY
}

step "1. openapi.json version"
request GET /openapi.json
[ "$STATUS" = 200 ] || fail "status $STATUS"
VERSION="$(json info.version)"
[ -n "$VERSION" ] || fail "no info.version"
if [ -n "$EXPECTED_VERSION" ] && [ "$VERSION" != "$EXPECTED_VERSION" ]; then
  fail "version $VERSION, expected $EXPECTED_VERSION"
fi
ok "$VERSION"

step "2. health"
request GET /health
[ "$STATUS" = 200 ] || fail "status $STATUS"
[ "$(json status)" = ok ] || fail "$(cat "$WORK/body")"
ok

step "3. register"
request POST /auth/register -H 'Content-Type: application/json' \
  -d "{\"email\": \"$EMAIL\", \"password\": \"$PASSWORD\", \"full_name\": \"Checklist User\", \"phone\": \"+77770001234\"}"
[ "$STATUS" = 201 ] || fail "status $STATUS: $(cat "$WORK/body")"
[ "$(json user.email)" = "$EMAIL" ] || fail "user.email missing"
[ -n "$(json user.id)" ] || fail "user.id missing"
ok "user $(json user.id)"

step "4. form login sets the refresh cookie"
request POST /auth/login -H 'Content-Type: application/x-www-form-urlencoded' \
  --data-urlencode "email=$EMAIL" --data-urlencode "password=$PASSWORD" -c "$JAR"
[ "$STATUS" = 200 ] || fail "status $STATUS: $(cat "$WORK/body")"
TOKEN="$(json access_token)"
[ -n "$TOKEN" ] || fail "no access_token"
[ -z "$(json refresh_token)" ] || fail "refresh token in the body of a browser login"
grep -q 'basis_refresh' "$JAR" || fail "no refresh cookie"
ok

step "5. /auth/me with the token"
request GET /auth/me -H "Authorization: Bearer $TOKEN"
[ "$STATUS" = 200 ] || fail "status $STATUS"
[ "$(json email)" = "$EMAIL" ] || fail "wrong profile"
ok

step "6. /auth/me without a token is 401"
request GET /auth/me
[ "$STATUS" = 401 ] || fail "status $STATUS"
ok

step "7. refresh with the cookie jar"
request POST /auth/refresh -b "$JAR" -c "$JAR"
[ "$STATUS" = 200 ] || fail "status $STATUS: $(cat "$WORK/body")"
NEW_TOKEN="$(json access_token)"
[ -n "$NEW_TOKEN" ] || fail "no access_token"
ok

step "8. logout"
request POST /auth/logout -H "Authorization: Bearer $NEW_TOKEN" -b "$JAR" -c "$JAR"
[ "$STATUS" = 200 ] || fail "status $STATUS: $(cat "$WORK/body")"
ok "$(json detail)"

step "9. the session is over"
request GET /auth/me -H "Authorization: Bearer $NEW_TOKEN"
[ "$STATUS" = 401 ] || fail "token still accepted after logout (status $STATUS)"
request POST /auth/refresh -b "$JAR"
[ "$STATUS" = 401 ] || fail "refresh still works after logout (status $STATUS)"
ok

step "10. 5 failed logins, the 6th is 429"
for attempt in 1 2 3 4 5 6; do
  request POST /auth/login -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-urlencode "email=$FAILED_EMAIL" --data-urlencode "password=wrong password $attempt" -D "$WORK/headers"
  if [ "$attempt" -le 5 ]; then
    [ "$STATUS" = 401 ] || fail "attempt $attempt: status $STATUS"
  else
    [ "$STATUS" = 429 ] || fail "attempt 6: status $STATUS, expected 429"
    grep -qi '^retry-after:' "$WORK/headers" || fail "429 without Retry-After"
  fi
done
ok

echo "all checks passed"
