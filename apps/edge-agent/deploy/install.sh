#!/bin/sh
# Installs the edge agent on a Debian-based device (Raspberry Pi OS included), as root.
# Usage: install.sh [BUILD_DIR]   BUILD_DIR holds the repository with the agent bundled
# (npm ci && npm run bundle -w edge-agent): one file, dist/edge-agent.mjs, and no node_modules.
set -eu
BUILD_DIR=${1:-$(cd "$(dirname "$0")/../../.." && pwd)}
PREFIX=/usr/local/lib/edge-agent

[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root" >&2; exit 1; }
command -v node >/dev/null || { echo "install.sh: Node.js 20 is required (apt-get install nodejs)" >&2; exit 1; }
BUNDLE="$BUILD_DIR/apps/edge-agent/dist/edge-agent.mjs"
[ -f "$BUNDLE" ] || { echo "install.sh: $BUNDLE is missing: bundle first: (cd $BUILD_DIR && npm ci && npm run bundle -w edge-agent)" >&2; exit 1; }

echo "installing into $PREFIX"
mkdir -p "$PREFIX"
# The bundle, its licence notices, and package.json, where `--version` reads the version.
mkdir -p "$PREFIX/docs"
cp "$BUNDLE" "$BUNDLE.LEGAL.txt" "$BUILD_DIR/apps/edge-agent/package.json" "$PREFIX/"
cp -a "$BUILD_DIR/docs/edge-agent.md" "$PREFIX/docs/" 2>/dev/null || true
# Node's flags for small devices (docs/edge-agent.md, "Footprint"): a 1 MiB young generation
# and V8's lite mode, which an agent that mostly waits does not miss. `rm` first: an older
# install left a symbolic link here, and writing through it would overwrite its target.
rm -f /usr/local/bin/edge-agent
cat >/usr/local/bin/edge-agent <<EOF
#!/bin/sh
exec node --max-semi-space-size=1 --lite-mode $PREFIX/edge-agent.mjs "\$@"
EOF
chmod 755 /usr/local/bin/edge-agent

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
