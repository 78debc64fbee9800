#!/usr/bin/env bash
# System packages the tests need, for CI on Debian: PostgreSQL (server tests), Chromium
# (browser tests) and docker-compose (validates docker-compose.yml; no Docker engine needed). Idempotent and quiet: installs only what is missing, then makes sure the
# PostgreSQL cluster runs. Without root (and without passwordless sudo) it says what is missing
# and carries on, so the tests that need it skip or fail with a clear reason.
#
#   .ci/setup-system.sh
set -euo pipefail

missing=()
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  as_root=(sudo -n)
else
  as_root=(false)
fi

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "${as_root[*]}" = false ]; then
    echo "setup-system: not root and no sudo; missing: ${missing[*]} (tests needing them will skip)" >&2
  else
    echo "setup-system: installing ${missing[*]}"
    # apt's output is kept and shown only when it fails.
    log=$(mktemp)
    if ! { "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
           "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
             apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
      cat "$log" >&2
      rm -f "$log"
      exit 1
    fi
    rm -f "$log"
  fi
fi

# Start every PostgreSQL cluster that is down (Debian may install one without starting it).
if command -v pg_lsclusters >/dev/null 2>&1 && [ "${as_root[*]}" != false ]; then
  if [ -z "$(pg_lsclusters --no-header 2>/dev/null)" ]; then
    version=$(ls /usr/lib/postgresql | sort -n | tail -1)
    "${as_root[@]}" pg_createcluster "$version" main >/dev/null
  fi
  pg_lsclusters --no-header | while read -r version cluster _port status _rest; do
    if [ "$status" != online ]; then
      "${as_root[@]}" pg_ctlcluster "$version" "$cluster" start
    fi
  done
fi
echo "setup-system: ok ($(pg_lsclusters --no-header 2>/dev/null | awk '{print "postgresql " $1 "/" $2 " " $4}' | head -1)${missing[*]:+; was missing: ${missing[*]}})"
