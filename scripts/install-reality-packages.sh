#!/usr/bin/env bash
# Install what the reality-check lab runs: nginx, Redis and PostgreSQL, from Debian/Ubuntu
# packages, where this user can (root, or sudo without a password). Otherwise it says what
# is missing and how to install it, and fails. The packages' own services are not started:
# the lab starts its own copies on 127.0.0.1 and stops them itself.
set -euo pipefail
missing=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v redis-server >/dev/null || missing+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -eq 0 ]; then
  echo "reality check: nginx, Redis and PostgreSQL are installed"
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  sudo=(sudo)
else
  echo "reality check: missing ${missing[*]}; this user cannot install packages." >&2
  echo "  Debian/Ubuntu: sudo apt-get install ${missing[*]}" >&2
  echo "  Without them the lab shows the stored results of its last live run." >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "reality check: missing ${missing[*]} and there is no apt-get; install them with" \
       "your package manager (PostgreSQL's server binaries under /usr/lib/postgresql/*/bin)." >&2
  exit 1
fi
policy=/usr/sbin/policy-rc.d  # tells the packages not to start their services
created=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod +x "$policy"
  created=1
fi
trap '[ -z "$created" ] || "${sudo[@]}" rm -f "$policy"' EXIT
echo "reality check: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
