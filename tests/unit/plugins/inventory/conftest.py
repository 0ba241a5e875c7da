from __future__ import annotations

import pytest
import yaml


@pytest.fixture
def parse_fleet(plugin_loader, tmp_path):
    """Parse a fleet (a dict, or raw YAML text) with the real plugin and return the InventoryData."""
    from ansible.inventory.data import InventoryData
    from ansible.parsing.dataloader import DataLoader
    from ansible.plugins.loader import inventory_loader

    def parse(fleet, file_name='test.fleet.yml'):
        path = tmp_path / file_name
        text = fleet if isinstance(fleet, str) else yaml.safe_dump(dict({'plugin': 'thinclient.vdi.fleet'}, **fleet))
        path.write_text(text)
        plugin = inventory_loader.get('thinclient.vdi.fleet')
        inventory = InventoryData()
        plugin.parse(inventory, DataLoader(), str(path), cache=False)
        return inventory

    return parse
