"""Secure Boot really is on, and enforced: the lab's Secure Boot PC refuses a boot loader whose
signature was removed (the same GRUB, unsigned), while a UEFI PC without Secure Boot boots that
very file, so the refusal can only come from the signature check."""

from __future__ import annotations

from lab_helpers import REPO, SEATS, lab, wait_for

GRUB = '/srv/tftp/grubx64.efi'
SIGNED_COPY = '/root/grubx64.efi.signed'
REFUSED = ('Security Violation', 'Verification failed')


def test_secure_boot_refuses_an_unsigned_boot_loader(running_lab):
    assert running_lab == 0
    secure, plain = SEATS['seat3'], SEATS['seat2']
    assert secure['firmware'] == 'uefi-sb' and plain['firmware'] == 'uefi'
    lab.stop_clients()
    signed = lab.ssh('sha256sum %s' % GRUB).stdout.split()[0]
    unsign = (REPO / 'tests' / 'tools' / 'pe_unsign.py').read_text()
    assert lab.ssh('cp -p %s %s && python3 - %s' % (GRUB, SIGNED_COPY, GRUB), stdin=unsign).returncode == 0
    try:
        assert lab.ssh('sha256sum %s' % GRUB).stdout.split()[0] != signed
        earlier = lab.display_connections('vdi-seat3')
        lab.start_client(secure)
        assert wait_for(lambda: any(word in lab.serial_text(secure) for word in REFUSED), 120, 3), \
            'the Secure Boot PC did not refuse the unsigned GRUB: %s' % lab.serial_text(secure)[-1500:]
        assert not lab.wait_for_session(secure, earlier, timeout=20), 'the Secure Boot PC booted an unsigned GRUB'
        lab.stop_client(secure)
        assert lab.boot(plain) is not None, 'the unsigned GRUB does not boot without Secure Boot either: %s' % (
            lab.serial_text(plain)[-1500:])
        lab.stop_client(plain)
    finally:
        lab.ssh('cp -p %s %s.new && mv %s.new %s' % (SIGNED_COPY, GRUB, GRUB, GRUB))
    assert lab.ssh('sha256sum %s' % GRUB).stdout.split()[0] == signed
