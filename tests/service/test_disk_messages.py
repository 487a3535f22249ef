"""QA4 DUR-8: the 507's sizes. 16,519,168 bytes free (15.75 MiB) was said as "16 MiB free, under
the 16 MiB it needs"; free space is now rounded down and what is needed rounded up, to a tenth,
so the sentence is true. The second test needs root (a tmpfs of an exact size)."""

from __future__ import annotations

from pathlib import Path

import pytest
from service_helpers import tmpfs

from glassnet.service import disk


def test_sizes_round_so_that_the_comparison_holds() -> None:
    size_text = disk.size_text
    assert size_text(16_519_168) == "15.7 MiB"
    assert size_text(16 * 2**20, up=True) == "16.0 MiB"
    assert size_text(16 * 2**20 - 1) == "15.9 MiB" and size_text(16 * 2**20 + 1, up=True) == "16.1 MiB"
    assert size_text(20 * 2**30) == "20.0 GiB" and size_text(3 * 2**30 // 2, up=True) == "1.5 GiB"


def test_15_75_mib_free_is_not_called_16(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk", "16128k") as mount:  # 15.75 MiB, all free
        check = disk.DiskCheck(mount, max_bytes=2**40, min_free=16 * 2**20)
        with pytest.raises(disk.DiskFullError) as info:
            check.require_room("resume a run")
    assert "has 15.7 MiB free, under the 16.0 MiB it needs" in str(info.value), str(info.value)
