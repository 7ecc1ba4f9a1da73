#!/usr/bin/env bash
# Run a command on a pure cgroup v2 host: a qemu guest (software emulation,
# TCG) booting Debian's 6.1 kernel with cgroup_no_v1=all.
#
#   bash scripts/guest/run.sh CMD [ARG...]      exit status: CMD's
#
# The guest sees this machine's / read-only over 9p under a tmpfs overlay, so
# every path (the repository, .venv, /usr) is where it is here and writes
# stay in the guest's memory. CMD runs as root in the current directory with
# this environment, its stdin /dev/null, its output on the serial console
# (this script's stdout), with:
#   /sys/fs/cgroup   cgroup2, every controller enabled in cgroup.subtree_control
#   /proc /sys /dev /dev/pts /dev/shm /run   fresh mounts (/tmp: the overlay's)
# The guest has no network besides lo. Code runs ~20x slower than here: call
# real interpreters (not pyenv shims).
#
# Environment: GUEST_TIMEOUT (seconds, default 900), GUEST_MEM (default 3G),
# GUEST_CPUS (default: this machine's, at most 4), GUEST_DIR (build output),
# GUEST_VERBOSE=1 (kernel messages).
# Needs: qemu-system-x86, busybox-static (scripts/setup.sh installs both).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${GUEST_DIR:-$REPO/build/guest}"
if [ "$#" -eq 0 ]; then
    echo "usage: $0 CMD [ARG...]" >&2
    exit 2
fi
QEMU="$(command -v qemu-system-x86_64 || true)"
if [ -z "$QEMU" ]; then
    echo "run.sh: qemu-system-x86_64 not found (apt-get install qemu-system-x86)" >&2
    exit 2
fi
GUEST_DIR="$OUT" bash "$REPO/scripts/guest/build.sh"

cpus="${GUEST_CPUS:-$(nproc)}"
[ "$cpus" -gt 4 ] && cpus=4
xfer="$(mktemp -d /tmp/pyrt-guest.XXXXXX)"
trap 'rm -rf "$xfer"' EXIT

# The environment, less what belongs to this shell.
export -p | grep -Ev '^declare -x (PWD|OLDPWD|SHLVL|_|HOSTNAME|TMPDIR|DISPLAY|SSH_[A-Z_]*)(=|$)' > "$xfer/env" || true
{
    printf 'cd %q\n' "$PWD"
    printf '%q ' "$@"
    printf '\n'
} > "$xfer/cmd.sh"

cat > "$xfer/stage2.sh" <<'STAGE2'
# PID 1 after switch_root (see scripts/guest/build.sh), bash.
X=/mnt/pyrt-xfer
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=755 tmpfs /run
# /tmp stays the overlay's (writable, in memory): a fresh tmpfs would hide a
# repository checked out under the host's /tmp, as CI may do.
mkdir -p /dev/pts /dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=620,gid=5 devpts /dev/pts
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do
    echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control
done
mount -t bpf bpf /sys/fs/bpf 2>/dev/null
hostname pyrt-guest
ip link set lo up 2>/dev/null || busybox ip link set lo up 2>/dev/null
stty -onlcr 2>/dev/null
set -a
. $X/env
set +a
export HOME=/root
bash $X/cmd.sh < /dev/null
echo $? > $X/rc
sync
busybox poweroff -f 2>/dev/null || echo o > /proc/sysrq-trigger
sleep 10
STAGE2

loglevel="quiet loglevel=1"
[ "${GUEST_VERBOSE:-0}" = "1" ] && loglevel=""
set +e
timeout --foreground -k 10 "${GUEST_TIMEOUT:-900}" "$QEMU" \
    -nodefaults -no-user-config -display none -no-reboot \
    -machine q35 -accel tcg,thread=multi -cpu max -smp "$cpus" -m "${GUEST_MEM:-3G}" \
    -kernel "$OUT/vmlinuz" -initrd "$OUT/initramfs.cpio" \
    -append "console=ttyS0 cgroup_no_v1=all panic=-1 rdinit=/init $loglevel" \
    -chardev stdio,id=con,signal=off -serial chardev:con \
    -fsdev local,id=hostroot,path=/,security_model=passthrough,readonly=on,multidevs=remap \
    -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
    -fsdev local,id=xfer,path="$xfer",security_model=passthrough \
    -device virtio-9p-pci,fsdev=xfer,mount_tag=xfer \
    < /dev/null
qrc=$?
set -e
if [ ! -s "$xfer/rc" ]; then
    echo "run.sh: the guest ended without an exit status (qemu rc=$qrc${qrc:+; 124 is GUEST_TIMEOUT})" >&2
    exit 125
fi
exit "$(cat "$xfer/rc")"
