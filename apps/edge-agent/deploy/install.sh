#!/bin/sh
# Installs the edge agent on a Debian-based device (Raspberry Pi OS included), as root.
# Usage: install.sh [BUILD_DIR]   BUILD_DIR holds the built repository (npm ci && npm run build).
set -eu
BUILD_DIR=${1:-$(cd "$(dirname "$0")/../../.." && pwd)}
PREFIX=/usr/local/lib/edge-agent

[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
command -v node >/dev/null || { echo "install.sh: Node.js 20 is required (apt-get install nodejs)" >&2; exit 1; }
[ -f "$BUILD_DIR/apps/edge-agent/dist/cli.js" ] || { echo "install.sh: build first: (cd $BUILD_DIR && npm ci && npm run build)" >&2; exit 1; }

echo "installing into $PREFIX"
mkdir -p "$PREFIX"
# The workspace with its production dependencies: the built packages and node_modules.
cp -a "$BUILD_DIR/package.json" "$BUILD_DIR/node_modules" "$PREFIX/"
mkdir -p "$PREFIX/apps" "$PREFIX/packages" "$PREFIX/docs"
cp -a "$BUILD_DIR/apps/edge-agent" "$PREFIX/apps/"
for p in reconcile-core transport-nats cli workloads; do cp -a "$BUILD_DIR/packages/$p" "$PREFIX/packages/"; done
cp -a "$BUILD_DIR/docs/edge-agent.md" "$PREFIX/docs/" 2>/dev/null || true
ln -sf "$PREFIX/apps/edge-agent/dist/cli.js" /usr/local/bin/edge-agent

mkdir -p /etc/edge-agent /var/lib/edge-agent/machines
chmod 700 /etc/edge-agent /var/lib/edge-agent
[ -f /etc/edge-agent/agent.yaml ] || cp "$BUILD_DIR/apps/edge-agent/deploy/agent.example.yaml" /etc/edge-agent/agent.yaml
install -m 0644 "$BUILD_DIR/apps/edge-agent/deploy/edge-agent.service" /etc/systemd/system/edge-agent.service

if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable --now edge-agent.service
  echo "edge-agent is running: journalctl -u edge-agent -f"
else
  echo "no running systemd: start it with: edge-agent run --config /etc/edge-agent/agent.yaml"
fi
edge-agent run --config /etc/edge-agent/agent.yaml --print-config >/dev/null && echo "config OK: /etc/edge-agent/agent.yaml"
