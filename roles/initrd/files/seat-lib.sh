# shellcheck shell=sh
# thinclient.vdi: what a seat's two stages share, the initramfs's /init and the root's /start
# (the initrd and rootfs roles install this file in both, at /usr/lib/thinclient-vdi/seat-lib.sh):
# the kernel command line and the words they put on the screen. Shell builtins only: /start sources
# it before anything else runs, and every program started costs time under emulation.

# The kernel command line (or FILE's first line) as VDI_* variables. The seat's boot entry sets
# rooturl=, rootsha256=, postboot= (the initramfs's), vdi.seat=, vdi.server=, vdi.port=,
# vdi.protocol=, vdi.keymap= (QEMU's layout name), vdi.usb=1 (the root's); pxelinux adds BOOTIF=;
# vdi.retry= and vdi.stall= (the initramfs's pauses) and vdi.debug=1 are for tests and
# troubleshooting. Words are not glob-expanded.
# shellcheck disable=SC2034  # set for the scripts that source this file
vdi_cmdline() {
    VDI_ROOTURL=''; VDI_ROOTSHA256=''; VDI_POSTBOOT=''; VDI_INIT=/start; VDI_BOOTIF=''
    VDI_UNREGISTERED=''; VDI_SEAT=''; VDI_SERVER=''; VDI_PORT=''; VDI_PROTOCOL=vnc
    VDI_RETRY=5; VDI_STALL=30; VDI_DEBUG=''; VDI_USB=''; VDI_KEYMAP=en-us
    vdi_words=''
    read -r vdi_words < "${1:-/proc/cmdline}" || [ -n "$vdi_words" ] || return 0
    case $- in *f*) vdi_glob='' ;; *) vdi_glob=1; set -f ;; esac
    for vdi_word in $vdi_words; do
        case "$vdi_word" in
            rooturl=*) VDI_ROOTURL=${vdi_word#*=} ;;
            rootsha256=*) VDI_ROOTSHA256=${vdi_word#*=} ;;
            postboot=*) VDI_POSTBOOT=${vdi_word#*=} ;;
            init=*) VDI_INIT=${vdi_word#*=} ;;
            BOOTIF=*) VDI_BOOTIF=${vdi_word#*=} ;;
            vdi.unregistered=1) VDI_UNREGISTERED=1 ;;
            vdi.seat=*) VDI_SEAT=${vdi_word#*=} ;;
            vdi.server=*) VDI_SERVER=${vdi_word#*=} ;;
            vdi.port=*) VDI_PORT=${vdi_word#*=} ;;
            vdi.protocol=*) VDI_PROTOCOL=${vdi_word#*=} ;;
            vdi.retry=*) VDI_RETRY=${vdi_word#*=} ;;
            vdi.stall=*) VDI_STALL=${vdi_word#*=} ;;
            vdi.debug=1) VDI_DEBUG=1 ;;
            vdi.usb=1) VDI_USB=1 ;;
            vdi.keymap=*) VDI_KEYMAP=${vdi_word#*=} ;;
        esac
    done
    [ -z "$vdi_glob" ] || set +f
    unset vdi_words vdi_word vdi_glob
}

# A message for the person at the seat: set apart by a blank line, naming the seat.
vdi_say() {
    printf '\nthinclient.vdi%s: %s\n' "${VDI_SEAT:+ (seat $VDI_SEAT)}" "$*"
}

# A stage of the boot; with vdi.debug=1 stamped with the seconds since power-on.
vdi_stage() {
    if [ -n "$VDI_DEBUG" ]; then
        read -r vdi_uptime _ < /proc/uptime
        printf 'thinclient.vdi [%s]: %s\n' "$vdi_uptime" "$*"
    else
        printf 'thinclient.vdi: %s\n' "$*"
    fi
}

# Whether the seat's keyboard (vdi.keymap=, QEMU's layout name) is a US one: directvnc's own
# key table is US, so only such a seat's keys all arrive as directvnc sends them.
vdi_us_keyboard() {
    case "$VDI_KEYMAP" in en-us|us|'') return 0 ;; *) return 1 ;; esac
}

# A stage shown only with vdi.debug=1.
vdi_debug_stage() {
    [ -z "$VDI_DEBUG" ] || vdi_stage "$@"
}
