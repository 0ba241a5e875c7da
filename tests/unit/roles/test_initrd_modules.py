"""build_initrd.py's module list: dependencies first, and the PCI devices that make a driver needed."""

from __future__ import annotations

import pathlib

import pytest
from role_files import load

BUILD = load('initrd', 'build_initrd.py')

VIRTIO = 'kernel/drivers/virtio/'
MODULES_DEP = """kernel/drivers/net/ethernet/intel/e1000/e1000.ko.xz:
{v}virtio_ring.ko.xz:
{v}virtio.ko.xz: {v}virtio_ring.ko.xz
{v}virtio_pci.ko.xz: {v}virtio.ko.xz {v}virtio_ring.ko.xz
kernel/net/core/failover.ko.xz:
kernel/drivers/net/net_failover.ko.xz: kernel/net/core/failover.ko.xz
kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/net_failover.ko.xz kernel/net/core/failover.ko.xz {v}virtio.ko.xz {v}virtio_ring.ko.xz
kernel/fs/squashfs/squashfs.ko.xz:
kernel/drivers/net/ethernet/realtek/8139too.ko.xz:
""".format(v=VIRTIO)
MODULES_ALIAS = """# Aliases extracted from modules themselves.
alias pci:v00008086d0000100Esv*sd*bc*sc*i* e1000
alias pci:v00008086d00001004sv*sd*bc*sc*i* e1000
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias virtio:d00000001v* virtio_net
alias fs-squashfs squashfs
alias pci:v000010ECd00008139sv*sd*bc*sc*i* 8139too
"""


@pytest.fixture(name='modules_dir')
def fixture_modules_dir(tmp_path):
    (tmp_path / 'modules.dep').write_text(MODULES_DEP)
    (tmp_path / 'modules.alias').write_text(MODULES_ALIAS)
    return tmp_path


@pytest.mark.parametrize('wanted, expected_groups, expected_missing', [
    (['e1000'],
     [(['pci:v00008086d0000100Esv*sd*bc*sc*i*', 'pci:v00008086d00001004sv*sd*bc*sc*i*'], ['e1000'])], []),
    # virtio_net has no PCI alias: always loaded, its dependencies first.
    (['virtio_net'], [([], ['failover', 'net_failover', 'virtio_ring', 'virtio', 'virtio_net'])], []),
    (['virtio_pci', 'squashfs'],
     [(['pci:v00001AF4d*sv*sd*bc*sc*i*'], ['virtio_ring', 'virtio', 'virtio_pci']), ([], ['squashfs'])], []),
    # A module named with dashes is found under its underscore name.
    (['8139too', 'no-such-driver'], [(['pci:v000010ECd00008139sv*sd*bc*sc*i*'], ['8139too'])], ['no-such-driver']),
    # A list: a driver, then modules no PCI device names, loaded before it and with its devices.
    ([['virtio_pci', 'virtio_net', 'no-such-codec']],
     [(['pci:v00001AF4d*sv*sd*bc*sc*i*'], ['failover', 'net_failover', 'virtio_ring', 'virtio', 'virtio_net', 'virtio_pci'])],
     ['no-such-codec']),
])
def test_module_groups(modules_dir, wanted, expected_groups, expected_missing):
    groups, missing = BUILD.module_closure(modules_dir, wanted)
    names = [(patterns, [pathlib.Path(path).name.split('.')[0] for path in order]) for patterns, order in groups]
    assert names == expected_groups
    assert missing == expected_missing


@pytest.mark.parametrize('entry', [[], {'virtio_pci': 'virtio_net'}, ['virtio_pci', 7]])
def test_a_malformed_entry_is_refused_naming_it(modules_dir, entry):
    with pytest.raises(BUILD.BuildError, match='module entry is a name or a list of names'):
        BUILD.module_closure(modules_dir, ['e1000', entry])


def test_a_missing_driver_reports_its_companions_too(modules_dir):
    groups, missing = BUILD.module_closure(modules_dir, [['no-such-hda', 'virtio_net']])
    assert groups == [] and missing == ['no-such-hda', 'virtio_net']
