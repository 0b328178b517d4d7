#!/usr/bin/env bash
# Make sure the system Chromium (driven by Playwright in the browser tests) and a CJK font are installed.
# Playwright never downloads a browser here: tests launch /usr/bin/chromium. Fails loudly if it cannot.
set -uo pipefail

say() { echo "[browser] $*" >&2; }
die() { echo "[browser] ERROR: $*" >&2; exit 1; }

CHROMIUM=${CHROMIUM_PATH:-/usr/bin/chromium}
PACKAGES=(chromium chromium-driver fonts-wqy-microhei)

missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium chromium-driver)
fc-list 2>/dev/null | grep -qi "wenquanyi\|wqy" || missing+=(fonts-wqy-microhei)
[ ${#missing[@]} -eq 0 ] && { say "Chromium at $CHROMIUM and a CJK font are present"; exit 0; }

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  die "the browser tests need ${PACKAGES[*]} (missing: ${missing[*]}); install them with apt-get as root, or deselect the tests with -m 'not browser'"
fi
say "installing ${PACKAGES[*]} with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null || say "apt-get update failed; trying with the package lists already here"
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null || die "apt-get install ${PACKAGES[*]} failed"
[ -x "$CHROMIUM" ] || die "$CHROMIUM is still missing after installing chromium"
say "installed: $("$CHROMIUM" --version 2>/dev/null || echo chromium)"
