#!/usr/bin/env bash
# Build what the cgroup v2 guest boots (scripts/guest/run.sh calls this):
#
#   build/guest/vmlinuz        Debian's kernel (package linux-image-amd64's
#                              dependency, fetched with apt-get download and
#                              unpacked with dpkg-deb -x: nothing is installed)
#   build/guest/initramfs.cpio busybox-static + the modules for 9p, virtio and
#                              overlay + /init (below)
#
# /init mounts the host's / (shared by qemu over 9p, read-only) under a tmpfs
# overlay, mounts the per-run exchange directory (9p tag "xfer", writable) at
# /mnt/pyrt-xfer in it and switch_roots into it, running bash on
# /mnt/pyrt-xfer/stage2.sh (written by run.sh). Needs: qemu-system-x86, busybox-static (scripts/setup.sh).
# Safe to run again: skips what exists and is newer than this script
# (GUEST_REBUILD=1 downloads and rebuilds all).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${GUEST_DIR:-$REPO/build/guest}"
MODULES=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
         9pnet 9pnet_virtio netfs fscache 9p overlay loop)

if [ "${GUEST_REBUILD:-0}" != "1" ] && [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initramfs.cpio" ] \
        && [ "$OUT/initramfs.cpio" -nt "${BASH_SOURCE[0]}" ]; then
    exit 0
fi
mkdir -p "$OUT"
BUSYBOX=/bin/busybox  # busybox-static: no shared libraries needed in the initramfs
[ -x "$BUSYBOX" ] || { echo "build.sh: busybox-static is needed (apt-get install busybox-static)" >&2; exit 1; }

# --- the kernel package -------------------------------------------------------
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if [ ! -d "$OUT/kernel/boot" ] || [ "${GUEST_REBUILD:-0}" = "1" ]; then
    kpkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}'; }
    pkg="$(kpkg)"
    if [ -z "$pkg" ]; then
        apt-get update -q >&2 || true
        pkg="$(kpkg)"
    fi
    if [ -z "$pkg" ]; then
        echo "build.sh: apt-cache knows no linux-image-amd64 (run apt-get update)" >&2
        exit 1
    fi
    echo "build.sh: downloading $pkg" >&2
    chmod 777 "$work"  # apt downloads as _apt where it can
    (cd "$work" && apt-get download -q "$pkg" >&2)
    rm -rf "$OUT/kernel"
    dpkg-deb -x "$work"/linux-image-*.deb "$OUT/kernel"
fi
kver="$(ls "$OUT/kernel/lib/modules" | head -n1)"
cp "$OUT/kernel/boot/vmlinuz-$kver" "$OUT/vmlinuz"

# --- the initramfs ------------------------------------------------------------
ird="$work/initramfs"
mkdir -p "$ird"/{bin,modules,proc,sys,dev,lower,upper,newroot}
cp "$BUSYBOX" "$ird/bin/busybox"
for m in "${MODULES[@]}"; do
    f="$(find "$OUT/kernel/lib/modules/$kver" -name "$m.ko" -print -quit)"
    [ -n "$f" ] || { echo "build.sh: module $m not found for kernel $kver" >&2; exit 1; }
    cp "$f" "$ird/modules/"
done
printf '%s\n' "${MODULES[@]}" > "$ird/modules/order"
cat > "$ird/init" <<'INIT'
#!/bin/busybox sh
# PID 1 in the initramfs: see scripts/guest/build.sh.
bb=/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
exec 0</dev/console 1>/dev/console 2>&1  # the cpio has no /dev/console node
fail() { echo "guest init: $*" > /dev/console; echo o > /proc/sysrq-trigger; $bb sleep 5; }
for m in $($bb cat /modules/order); do
    $bb insmod /modules/$m.ko || fail "insmod $m"
done
$bb mount -t 9p -o ro,trans=virtio,version=9p2000.L,cache=loose,msize=512000 hostroot /lower \
    || fail "mount 9p hostroot"
$bb mount -t tmpfs -o mode=755 tmpfs /upper
$bb mkdir -p /upper/u /upper/w
$bb mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w overlay /newroot \
    || fail "mount overlay"
$bb mkdir -p /newroot/mnt/pyrt-xfer
$bb mount -t 9p -o trans=virtio,version=9p2000.L,cache=none,msize=512000 xfer /newroot/mnt/pyrt-xfer \
    || fail "mount 9p xfer"
$bb umount /proc /sys
$bb mount --move /dev /newroot/dev
exec $bb switch_root /newroot /bin/bash /mnt/pyrt-xfer/stage2.sh
INIT
chmod 755 "$ird/init"
(cd "$ird" && find . | "$BUSYBOX" cpio -o -H newc > "$OUT/initramfs.cpio.tmp" 2>/dev/null)
mv "$OUT/initramfs.cpio.tmp" "$OUT/initramfs.cpio"
echo "build.sh: guest kernel $kver and initramfs in $OUT" >&2
