#!/usr/bin/env bash
# Print the path of configurable-http-proxy (JupyterHub's proxy, an npm package), installing a
# pinned copy with the machine's Node.js and npm into PREFIX (default: build/hub-proxy of this
# checkout) if it is missing. deploy/setup.sh installs the deployment's copy with it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
prefix="${1:-$root/build/hub-proxy}"
proxy="$prefix/node_modules/.bin/configurable-http-proxy"
if [ ! -x "$proxy" ]; then
  command -v npm >/dev/null || { echo "tools/hub_proxy.sh: Node.js and npm are needed (apt-get install nodejs npm)" >&2; exit 1; }
  mkdir -p "$prefix"
  (cd "$prefix" && npm install --silent --no-audit --no-fund configurable-http-proxy@5.3.0 >/dev/null)
fi
echo "$proxy"
