#!/bin/busybox sh
# Coconut OS live initramfs: find the medium this initramfs was built with, mount its squashfs
# root read-only under a tmpfs overlay, and hand over to coconutd (/sbin/init of that root).
#
# Kernel command line (written by the ISO's grub.cfg):
#   coconut.medium=ID    the medium holds /coconut/medium-ID (ID: the build's input hash)
#   coconut.live=NAME    the root is /coconut/NAME.squashfs on that medium
#   coconut.wait=SECS    how long to look for the medium (default 30)
# Any failure prints its reason and drops to a shell on the console; nothing is mounted
# read-write on the medium.

/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

fail() {
    echo "coconut-live: FATAL: $*"
    echo "coconut-live: a shell follows; 'reboot -f' restarts."
    setsid cttyhack sh
    reboot -f
}

arg() {
    for word in $(cat /proc/cmdline); do
        case "$word" in "$1="*) echo "${word#*=}"; return ;; esac
    done
}

medium=$(arg coconut.medium)
profile=$(arg coconut.live)
wait=$(arg coconut.wait)
[ -n "$medium" ] || fail "no coconut.medium= on the kernel command line"
[ -n "$profile" ] || fail "no coconut.live= on the kernel command line"
case "$wait" in ''|*[!0-9]*) wait=30 ;; esac

echo "coconut-live: looking for medium $medium (profile $profile, up to ${wait}s)"
mkdir -p /live/medium /live/root /live/rw /newroot
found=""
tries=0
while [ -z "$found" ]; do
    for dev in /dev/sr* /dev/sd* /dev/vd* /dev/nvme*n* /dev/mmcblk*; do
        [ -b "$dev" ] || continue
        mount -t iso9660 -o ro "$dev" /live/medium 2>/dev/null \
            || mount -t vfat -o ro "$dev" /live/medium 2>/dev/null \
            || continue
        if [ -e "/live/medium/coconut/medium-$medium" ]; then
            found="$dev"
            break
        fi
        umount /live/medium
    done
    [ -n "$found" ] && break
    tries=$((tries + 1))
    [ "$tries" -gt "$wait" ] && fail "no block device holds medium $medium after ${wait}s (devices: $(ls /sys/block | tr '\n' ' '))"
    sleep 1
done
echo "coconut-live: medium on $found"

image="/live/medium/coconut/$profile.squashfs"
[ -f "$image" ] || fail "the medium has no $image (profiles on it: $(ls /live/medium/coconut | grep squashfs | tr '\n' ' '))"
mount -t squashfs -o ro,loop "$image" /live/root || fail "cannot mount $image"
mount -t tmpfs -o mode=0755 tmpfs /live/rw || fail "cannot mount a tmpfs for writes"
mkdir -p /live/rw/upper /live/rw/work
mount -t overlay overlay -o lowerdir=/live/root,upperdir=/live/rw/upper,workdir=/live/rw/work /newroot \
    || fail "cannot mount the overlay root"
[ -x /newroot/sbin/init ] || fail "$image has no executable /sbin/init"

# The medium, the read-only root and the write layer stay reachable (the installer copies
# from /live/medium) under /live of the new root.
mkdir -p /newroot/live/medium /newroot/live/root /newroot/live/rw
mount --move /live/medium /newroot/live/medium
mount --move /live/root /newroot/live/root
mount --move /live/rw /newroot/live/rw
echo "coconut-live: root is $profile.squashfs under a tmpfs overlay; starting /sbin/init"
umount /sys
umount /proc
umount /dev
exec switch_root /newroot /sbin/init
