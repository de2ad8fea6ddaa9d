#!/usr/bin/env bash
# Print the path of a Chromium for the browser tests, installing Debian's package if it is missing
# (as root; Playwright drives it through its executable path, so no browser download is needed).
set -euo pipefail
for candidate in "${GANKIT_CHROMIUM:-}" /usr/bin/chromium /usr/bin/chromium-browser; do
    if [ -n "$candidate" ] && [ -x "$candidate" ]; then
        echo "$candidate"
        exit 0
    fi
done
if [ "$(id -u)" != 0 ]; then
    echo "tools/chromium.sh: Chromium is not installed; run as root, or: sudo apt-get install chromium" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q chromium >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }
echo /usr/bin/chromium
