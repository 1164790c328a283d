"""runtime.partitioner.murmur2 is Kafka's: the same partition as aiokafka's partitioner."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference_murmur2
from hypothesis import given
from hypothesis import strategies as st

from runtime.partitioner import murmur2, partition_of


@given(st.binary(max_size=200))
def test_murmur2_equals_the_reference_for_any_bytes(data: bytes) -> None:
    assert murmur2(data) == reference_murmur2(data)


@given(st.binary(min_size=1, max_size=64), st.integers(min_value=1, max_value=1000))
def test_partition_of_equals_the_default_partitioner(key: bytes, partitions: int) -> None:
    every = list(range(partitions))
    assert partition_of(key, partitions) == DefaultPartitioner()(key, every, every)


def test_known_values_from_kafkas_java_client() -> None:
    # org.apache.kafka.common.utils.UtilsTest#testMurmur2 (as signed ints there).
    cases = {
        b"21": -973932308,
        b"foobar": -790332482,
        b"a-little-bit-long-string": -985981536,
        b"a-little-bit-longer-string": -1486304829,
        b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
        b"abc": 479470107,
    }
    for data, signed in cases.items():
        assert murmur2(data) == signed & 0xFFFFFFFF
