#!/usr/bin/env bash
# Install Debian's chromium (driven by Playwright in tests/review/test_browser.py) and a CJK font so the report's
# Chinese narrative renders. Safe to run twice.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "wenquanyi"; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >&2
  $SUDO apt-get install -y -qq chromium fonts-wqy-microhei >&2
fi
