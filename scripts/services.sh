#!/usr/bin/env bash
# Brings up the real services the tests use, on a Debian machine, as root. Idempotent: it
# installs only what is missing and starts only what is not running. Tests find the services
# through these variables, whose defaults match what this script starts:
#   DOCKER_HOST   unix:///var/run/docker.sock
#   NATS_URL      nats://127.0.0.1:4222        (JetStream on)
#   DATABASE_URL  postgres://fleet:fleet@127.0.0.1:5432/fleet
#   TEST_IMAGE    fleet-test/busybox:latest    (busybox-static: sh, httpd, nc, sleep, ...)
#   SYSTEMD_IMAGE fleet-test/systemd:bookworm  (Debian with systemd as PID 1, scripts/systemd-image.sh)
set -euo pipefail

STATE_DIR=${SERVICES_STATE_DIR:-/var/lib/fleet-test-services}
LOG_DIR=${SERVICES_LOG_DIR:-/var/log/fleet-test-services}
NATS_PORT=${NATS_PORT:-4222}
TEST_IMAGE=${TEST_IMAGE:-fleet-test/busybox:latest}
export SYSTEMD_IMAGE=${SYSTEMD_IMAGE:-fleet-test/systemd:bookworm}
PACKAGES=(docker.io nats-server postgresql busybox-static curl)

say() { printf 'services: %s\n' "$*"; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq 1 $((seconds * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  die "$what did not come up within ${seconds}s (logs in $LOG_DIR)"
}

[ "$(id -u)" -eq 0 ] || die "run as root: it installs Debian packages and starts daemons (try: sudo npm run services)"
mkdir -p "$STATE_DIR" "$LOG_DIR"

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing ${missing[*]} and there is no apt-get: install them by hand"
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >"$LOG_DIR/apt.log" 2>&1 || die "apt-get update failed (see $LOG_DIR/apt.log)"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOG_DIR/apt.log" 2>&1 ||
    die "apt-get install ${missing[*]} failed (see $LOG_DIR/apt.log)"
else
  say "packages present: ${PACKAGES[*]}"
fi

# Daemons run in their own session (setsid), so they outlive the shell or job that started them
# when that job's process group is killed.
# Docker engine.
if docker info >/dev/null 2>&1; then
  say "dockerd already running"
else
  say "starting dockerd"
  setsid nohup dockerd >"$LOG_DIR/dockerd.log" 2>&1 &
  wait_for 60 dockerd docker info
fi

# NATS with JetStream.
if (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null; then
  say "nats-server already listening on $NATS_PORT"
else
  say "starting nats-server with JetStream on 127.0.0.1:$NATS_PORT"
  mkdir -p "$STATE_DIR/nats"
  setsid nohup nats-server -js -a 127.0.0.1 -p "$NATS_PORT" -sd "$STATE_DIR/nats" >"$LOG_DIR/nats.log" 2>&1 &
  wait_for 20 nats-server bash -c "exec 3<>/dev/tcp/127.0.0.1/$NATS_PORT"
fi

# PostgreSQL (Debian's cluster), with a role and database for the tests.
if pg_isready -q -h 127.0.0.1 -p 5432; then
  say "postgresql already running"
else
  cluster=$(pg_lsclusters --no-header 2>/dev/null | awk 'NR==1 {print $1" "$2}')
  if [ -z "$cluster" ]; then
    version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
    say "creating postgresql $version cluster main"
    pg_createcluster "$version" main >>"$LOG_DIR/postgresql.log" 2>&1
    cluster="$version main"
  fi
  say "starting postgresql $cluster"
  # shellcheck disable=SC2086
  pg_ctlcluster $cluster start >>"$LOG_DIR/postgresql.log" 2>&1 || die "pg_ctlcluster $cluster start failed"
  wait_for 30 postgresql pg_isready -q -h 127.0.0.1 -p 5432
fi
if ! su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='fleet'\"" | grep -q 1; then
  say "creating postgresql role and database 'fleet'"
  su postgres -c "psql -q -c \"CREATE ROLE fleet LOGIN PASSWORD 'fleet' CREATEDB\""
  su postgres -c "createdb -O fleet fleet"
fi

# The local test image: busybox-static in an otherwise empty root file system.
if docker image inspect "$TEST_IMAGE" >/dev/null 2>&1; then
  say "test image $TEST_IMAGE present"
else
  say "building test image $TEST_IMAGE from busybox-static"
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  mkdir -p "$rootfs"/{bin,etc,tmp,www,data}
  chmod 1777 "$rootfs/tmp"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  echo "fleet test image" >"$rootfs/www/index.html"
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/bin' \
    --change 'CMD ["/bin/sh"]' \
    - "$TEST_IMAGE" >/dev/null
fi

# The systemd image the SystemdUnit tests boot (debootstrap, 1-2 minutes; cached as an image).
if ! "$(dirname "$0")/systemd-image.sh"; then
  say "warning: $SYSTEMD_IMAGE not built; the SystemdUnit tests skip (and fail under CI=true)"
fi

say "ready: DOCKER_HOST=unix:///var/run/docker.sock NATS_URL=nats://127.0.0.1:$NATS_PORT DATABASE_URL=postgres://fleet:fleet@127.0.0.1:5432/fleet TEST_IMAGE=$TEST_IMAGE SYSTEMD_IMAGE=$SYSTEMD_IMAGE"
