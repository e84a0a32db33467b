#!/usr/bin/env bash
# Builds the image the SystemdUnit tests boot: Debian bookworm (minbase) with systemd as PID 1,
# from debootstrap, imported into the local Docker engine. Run as root. Skipped when the image
# exists (it is the cache: a build takes 1-2 minutes); --force builds it again.
#   SYSTEMD_IMAGE   fleet-test/systemd:bookworm
#   DEBIAN_MIRROR   http://deb.debian.org/debian
#   SYSTEMD_IMAGE_CACHE  ~/.cache/fleet-test/systemd-bookworm.tar: a saved copy, loaded when the
#                   engine lacks the image (a CI cache can keep this file between fresh machines)
# The tests boot it with (see apps/edge-agent/test/systemd.test.ts):
#   docker run -d --cap-add SYS_ADMIN --security-opt seccomp=unconfined --tmpfs /run
#     --tmpfs /run/lock -v /sys/fs/cgroup:/sys/fs/cgroup:ro --stop-signal SIGRTMIN+3 IMAGE
# (cgroup v1 hosts; on a cgroup v2 host --cgroupns=host and a read-write /sys/fs/cgroup).
set -euo pipefail

IMAGE=${SYSTEMD_IMAGE:-fleet-test/systemd:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${SYSTEMD_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/fleet-test/systemd-bookworm.tar}
SUITE=bookworm

say() { printf 'systemd-image: %s\n' "$*"; }
die() { printf 'systemd-image: error: %s\n' "$*" >&2; exit 1; }

force=false
[ "${1:-}" = "--force" ] && force=true

docker info >/dev/null 2>&1 || die "the Docker engine does not answer (start it: sudo npm run services)"
if ! $force && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  say "image $IMAGE present"
  exit 0
fi
if ! $force && [ -s "$CACHE" ]; then
  if docker load -i "$CACHE" >/dev/null 2>&1 && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    say "loaded $IMAGE from $CACHE"
    exit 0
  fi
  say "$CACHE does not hold $IMAGE; building it"
fi
[ "$(id -u)" -eq 0 ] || die "run as root: debootstrap needs it (try: sudo scripts/systemd-image.sh)"
if ! command -v debootstrap >/dev/null; then
  command -v apt-get >/dev/null || die "debootstrap is missing and there is no apt-get: install debootstrap by hand"
  say "installing debootstrap"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
    die "apt-get install debootstrap failed (try apt-get update first)"
fi

rootfs=$(mktemp -d /var/tmp/systemd-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
say "debootstrap $SUITE from $MIRROR (1-2 minutes)"
log="$rootfs.log"
if ! debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus "$SUITE" "$rootfs" "$MIRROR" >"$log" 2>&1; then
  tail -n 5 "$log" >&2
  die "debootstrap failed (full log in $log); without network access to $MIRROR the image cannot be built"
fi
rm -f "$log"

# Nothing in a test container needs a console, timers or the apt caches.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
rm -f "$rootfs"/etc/systemd/system/getty.target.wants/* "$rootfs"/etc/systemd/system/timers.target.wants/*
: >"$rootfs/etc/machine-id"

say "importing $IMAGE"
# container=docker tells systemd it runs in a container (no udev, no hardware units).
tar -C "$rootfs" -c . | docker import \
  --change 'ENV container=docker' \
  --change 'ENTRYPOINT ["/sbin/init"]' \
  - "$IMAGE" >/dev/null
mkdir -p "$(dirname "$CACHE")"
docker save -o "$CACHE.tmp" "$IMAGE" && mv "$CACHE.tmp" "$CACHE" || say "warning: could not save $IMAGE to $CACHE"
say "built $IMAGE ($(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%d MB", $1/1e6}'))"
