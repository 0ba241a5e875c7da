# shellcheck shell=sh
# thinclient.vdi: what the root's session (roles/rootfs/files/session) runs beside a viewer: a
# watch on its start, read from the kernel's TCP table. Sourced by the session; unit-tested alone.

# IPv4 ADDRESS and PORT as the kernel's TCP table (/proc/net/tcp) writes a peer: hex, the
# address's bytes reversed. Fails for anything it cannot name so (a server given by name, IPv6,
# an octet over 255 or with a leading zero, a port over 65535): no watch then.
vdi_tcp_peer() {
    case "$1" in
        *[!0-9.]*|*..*|.*|*.|*.*.*.*.*) return 1 ;;
        *.*.*.*) ;;
        *) return 1 ;;
    esac
    case "$2" in ''|*[!0-9]*|0[0-9]*) return 1 ;; esac
    [ "${#2}" -le 5 ] && [ "$2" -le 65535 ] || return 1
    vdi_ifs=$IFS
    IFS=.
    # shellcheck disable=SC2086  # split at the dots
    set -- $1 "$2"
    IFS=$vdi_ifs
    for vdi_octet in "$1" "$2" "$3" "$4"; do
        case "$vdi_octet" in 0[0-9]*|????*) return 1 ;; esac
        [ "$vdi_octet" -le 255 ] || return 1
    done
    printf '%02X%02X%02X%02X:%04X\n' "$4" "$3" "$2" "$1" "$5"
}

# How many established TCP connections TABLE (default /proc/net/tcp) lists to PEER.
vdi_established() {
    vdi_count=0
    while read -r _ _ vdi_remote vdi_state _; do
        [ "$vdi_remote" = "$1" ] && [ "$vdi_state" = 01 ] && vdi_count=$((vdi_count + 1))
    done < "${2:-/proc/net/tcp}"
    echo "$vdi_count"
}

# vdi_watch_start PID PEER SECONDS [TABLE]: waits while a viewer (process PID) opens its session,
# until it has two connections to PEER (a SPICE session's main channel and the next, which
# spice-gtk opens only once the server has answered the first), or has ended by itself. A viewer
# that has neither after SECONDS is ended, and this fails. Under emulation about one SPICE viewer
# start in seven stopped at its first connection, or before it, and waited for ever, nothing on
# the screen saying so.
vdi_watch_start() {
    vdi_waited=0
    while kill -0 "$1" 2>/dev/null; do
        [ "$(vdi_established "$2" "$4")" -ge 2 ] && return 0
        if [ "$vdi_waited" -ge "$3" ]; then
            kill "$1" 2>/dev/null
            sleep 1
            kill -9 "$1" 2>/dev/null
            return 1
        fi
        sleep 1
        vdi_waited=$((vdi_waited + 1))
    done
}

# The allowance after a viewer was ended for not opening its session in CURRENT seconds: twice
# that, up to eight times FIRST (a slow PC or server gets there in the end, a hung viewer is still
# ended within minutes).
vdi_next_allowance() {
    if [ "$1" -ge $(($2 * 4)) ]; then echo $(($2 * 8)); else echo $(($1 * 2)); fi
}
