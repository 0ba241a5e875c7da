"""Asks for a network boot the way a PXE ROM does, and prints what the DHCP servers answered.

Run inside a network namespace whose interface is on the seats' network:
  ip netns exec NS python3 pxe_probe.py --interface IF --mac MAC --arch 0|7 [--ipxe] [--seconds 4]

Sends DHCPDISCOVER with the PXE options (60 PXEClient, 93 client architecture, 94, 97; with
--ipxe also the user class 77 "iPXE" that iPXE ROMs send), collects
every offer, and when a proxy offer carries no file name, follows it with the DHCPREQUEST to port
4011 that a ROM sends to learn the boot file. Prints one JSON object:
{"offers": [{"server": ..., "yiaddr": ..., "file": ..., "next_server": ..., "vendor_class": ...}, ...]}
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import select
import socket
import struct
import time

MAGIC = b'\x63\x82\x53\x63'
DISCOVER, OFFER, REQUEST, ACK = 1, 2, 3, 5
PXE_BOOT_ITEM, PXE_BOOT_MENU = 71, 9
SO_BINDTODEVICE = getattr(socket, 'SO_BINDTODEVICE', 25)


def option(code, value):
    return bytes([code, len(value)]) + value


def packet(message_type, mac, xid, arch, extra=b'', ciaddr='0.0.0.0', ipxe=False):
    vendor = ('PXEClient:Arch:%05d:UNDI:002001' % arch).encode()
    head = struct.pack('!BBBBIHH4s4s4s4s16s64s128s', 1, 1, 6, 0, xid, 0, 0x8000, socket.inet_aton(ciaddr),
                       bytes(4), bytes(4), bytes(4), mac + bytes(10), bytes(64), bytes(128))
    options = (option(53, bytes([message_type])) + option(60, vendor) + option(93, struct.pack('!H', arch))
               + option(94, b'\x01\x02\x01') + option(97, b'\x00' + bytes(range(16)))
               + option(55, bytes([1, 3, 43, 60, 66, 67])) + (option(77, b'iPXE') if ipxe else b'') + extra + b'\xff')
    return head + MAGIC + options


def parse(data):
    if len(data) < 240 or data[236:240] != MAGIC:
        return None
    fields = struct.unpack('!BBBBIHH4s4s4s4s16s64s128s', data[:236])
    options, index = {}, 240
    while index < len(data) and data[index] != 255:
        if data[index] == 0:
            index += 1
            continue
        code, length = data[index], data[index + 1]
        options[code] = data[index + 2:index + 2 + length]
        index += 2 + length
    return {'xid': fields[4], 'yiaddr': socket.inet_ntoa(fields[8]), 'siaddr': socket.inet_ntoa(fields[9]),
            'file': fields[13].split(b'\0')[0].decode(errors='replace'), 'options': options}


def sub_options(raw):
    found, index = {}, 0
    while index + 1 < len(raw) and raw[index] != 255:
        code, length = raw[index], raw[index + 1]
        found[code] = raw[index + 2:index + 2 + length]
        index += 2 + length
    return found


def receive(sock, xid, seconds, wanted_type):
    answers, deadline = [], time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            return answers
        data, sender = sock.recvfrom(4096)
        reply = parse(data)
        if reply and reply['xid'] == xid and reply['options'].get(53) == bytes([wanted_type]):
            reply['sender'] = sender[0]
            answers.append(reply)


def boot_file_from_proxy(interface, mac, arch, offer, server, ipxe):
    """The ROM's second step: ask the proxy on port 4011 for the file of the first menu item."""
    menu = sub_options(offer['options'].get(43, b'')).get(PXE_BOOT_MENU, b'')
    xid = random.getrandbits(32)
    # With a menu the ROM asks for the first item; without one (UEFI) it names no item.
    extra = option(43, option(PXE_BOOT_ITEM, menu[:2] + b'\x00\x00') + b'\xff') if len(menu) >= 2 else b''
    own = interface_address(interface)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, interface.encode())
        sock.bind((own, 4011))
        sock.sendto(packet(REQUEST, mac, xid, arch, extra, ciaddr=own, ipxe=ipxe), (server, 4011))
        acks = receive(sock, xid, 3, ACK)
    return acks[0] if acks else None


def interface_address(interface):
    with os.popen('ip -4 -o address show dev %s' % interface) as listing:
        for line in listing:
            return line.split()[3].split('/')[0]
    raise SystemExit('interface %s has no IPv4 address' % interface)


def describe(reply, source):
    server = reply['options'].get(54)
    # The boot file travels in the BOOTP file field or, when the client asked for it, option 67.
    boot_file = reply['file'] or reply['options'].get(67, b'').split(b'\0')[0].decode(errors='replace')
    return {'server': socket.inet_ntoa(server) if server else reply['sender'], 'yiaddr': reply['yiaddr'],
            'file': boot_file, 'next_server': reply['siaddr'], 'source': source,
            'vendor_class': reply['options'].get(60, b'').decode(errors='replace')}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--interface', required=True)
    parser.add_argument('--mac', required=True)
    parser.add_argument('--arch', type=int, default=0, help='0 BIOS, 7 UEFI x86-64')
    parser.add_argument('--ipxe', action='store_true', help='say so in the user class, as iPXE ROMs do')
    parser.add_argument('--seconds', type=float, default=4)
    args = parser.parse_args()
    mac = bytes.fromhex(args.mac.replace(':', '').replace('-', ''))
    xid = random.getrandbits(32)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, args.interface.encode())
        sock.bind(('0.0.0.0', 68))
        sock.sendto(packet(DISCOVER, mac, xid, args.arch, ipxe=args.ipxe), ('255.255.255.255', 67))
        offers = receive(sock, xid, args.seconds, OFFER)
    results = []
    for offer in offers:
        result = describe(offer, 'offer')
        proxy = ipaddress.ip_address(offer['yiaddr']).is_unspecified
        # A proxy offer without a file name (a boot menu for BIOS, nothing but siaddr for UEFI
        # since dnsmasq 2.76) is followed, as by a ROM, by a request to port 4011.
        if proxy and not offer['file']:
            ack = boot_file_from_proxy(args.interface, mac, args.arch, offer, result['server'], args.ipxe)
            if ack:
                result = dict(describe(ack, 'proxy-4011'), server=result['server'], yiaddr=result['yiaddr'])
        results.append(result)
    print(json.dumps({'offers': results}))


if __name__ == '__main__':
    main()
