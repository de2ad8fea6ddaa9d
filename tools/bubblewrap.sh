#!/usr/bin/env bash
# Make sure bubblewrap (bwrap), the sandbox every student's code is graded in, is installed:
# Debian's package, installed here when running as root. Also needs libseccomp (Debian's
# libseccomp2, present on every Debian system), which the sandbox's filter is compiled with.
set -euo pipefail
if command -v bwrap >/dev/null 2>&1 || [ -x /usr/bin/bwrap ]; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "tools/bubblewrap.sh: bubblewrap is not installed; run as root, or: sudo apt-get install bubblewrap" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q bubblewrap >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q bubblewrap >/dev/null; }
command -v bwrap >/dev/null
