"""The local engine runs a batch function over items and yields every item's result once."""

from collections.abc import Sequence

import pytest

from sleeve.core.engine import LocalEngine


def square_all(batch: Sequence[int]) -> list[int]:
    return [x * x for x in batch]


@pytest.mark.parametrize("workers", [1, 2])
def test_local_engine_yields_each_result_once(workers):
    items = list(range(23))
    seen = {}
    for batch, results in LocalEngine(workers).map_batches(square_all, items, batch_size=4):
        assert len(batch) == len(results)
        seen.update(zip(batch, results, strict=True))
    assert seen == {x: x * x for x in items}
