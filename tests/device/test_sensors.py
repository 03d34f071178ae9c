"""The IIO, hwmon, thermal and simulated sensors, read from a fake sysfs tree."""

from __future__ import annotations

import errno
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from device.sensors.base import PLAUSIBLE, SensorError, check_plausible, format_values
from device.sensors.iio import IIO
from device.sensors.registry import KINDS, SensorSettings, discover, open_sensor
from device.sensors.simulated import SimulatedSensor
from device.sensors.sysfs import SysfsSensor
from tests.device.fakes import FaultyFiles, SysfsTree


@pytest.fixture
def tree(tmp_path: Path) -> SysfsTree:
    return SysfsTree(tmp_path)


def test_dht_values_are_converted_from_milli_units(tree: SysfsTree) -> None:
    tree.iio(0, "dht11@4", in_temp_input=21500, in_humidityrelative_input=40200)
    sensor = SysfsSensor(IIO, tree.root, "dht11")
    assert sensor.read() == {"temperature": 21.5, "humidity": 40.2}
    assert sensor.name == "dht11@4"


def test_iio_device_is_found_by_name_not_by_index(tree: SysfsTree) -> None:
    tree.iio(0, "bme280", in_temp_input=19000, in_pressure_input="101.325")
    tree.iio(1, "dht11@4", in_temp_input=25000, in_humidityrelative_input=50000)
    assert SysfsSensor(IIO, tree.root, "dht11").read()["temperature"] == 25.0
    assert SysfsSensor(IIO, tree.root, "bme280").read()["temperature"] == 19.0


def test_bme280_pressure_in_kilopascal_is_sent_in_hectopascal(tree: SysfsTree) -> None:
    tree.iio(0, "bme280", in_temp_input=19000, in_pressure_input="101.325")
    assert SysfsSensor(IIO, tree.root, "bme280").read() == {
        "temperature": 19.0,
        "pressure": 1013.25,
    }


def test_iio_raw_values_apply_offset_and_scale(tree: SysfsTree) -> None:
    # An si7020-style channel: (raw + offset) × scale is in milli-°C.
    tree.iio(0, "si7020", in_temp_raw=26000, in_temp_offset=-1000, in_temp_scale="0.5")
    assert SysfsSensor(IIO, tree.root, "si7020").read() == {"temperature": 12.5}


def test_indexed_iio_channel_uses_the_scale_shared_by_its_type(tree: SysfsTree) -> None:
    tree.iio(0, "htu21", in_temp0_raw=2000, in_temp_scale="10")
    assert SysfsSensor(IIO, tree.root, "htu21").read() == {"temperature": 20.0}


def test_without_a_name_the_first_device_with_known_channels_is_used(tree: SysfsTree) -> None:
    tree.iio(0, "adc1015")  # no temperature, humidity or pressure channel
    tree.iio(2, "dht11@4", in_temp_input=21000, in_humidityrelative_input=40000)
    sensor = SysfsSensor(IIO, tree.root)
    assert sensor.read() == {"temperature": 21.0, "humidity": 40.0}


def test_missing_device_error_lists_what_is_there_and_what_to_do(tree: SysfsTree) -> None:
    tree.iio(0, "bme280", in_temp_input=19000)
    with pytest.raises(SensorError, match=r"no iio device named 'dht11'.*found: bme280.*dtoverlay"):
        SysfsSensor(IIO, tree.root, "dht11").read()


def test_hwmon_sht3x_reads_temperature_and_humidity(tree: SysfsTree) -> None:
    tree.hwmon(0, "cpu_thermal", temp1_input=48000)
    tree.hwmon(1, "sht3x", temp1_input=22125, humidity1_input=45500)
    sensor = open_sensor("hwmon", SensorSettings(root=tree.root, hwmon_name="sht3x"), _now)
    assert sensor.read() == {"temperature": 22.125, "humidity": 45.5}


def test_without_a_name_hwmon_skips_the_cpu_for_a_humidity_sensor(tree: SysfsTree) -> None:
    tree.hwmon(0, "cpu_thermal", temp1_input=48000)
    tree.hwmon(1, "sht4x", temp1_input=22000, humidity1_input=45000)
    sensor = open_sensor("hwmon", SensorSettings(root=tree.root), _now)
    assert sensor.read() == {"temperature": 22.0, "humidity": 45.0}
    assert sensor.name == "sht4x"


def test_hwmon_attributes_in_the_device_directory_are_found(tree: SysfsTree) -> None:
    device = tree.hwmon(0, "sht21")
    (device / "device").mkdir()
    SysfsTree.write(device / "device", "temp1_input", 20500)
    sensor = open_sensor("hwmon", SensorSettings(root=tree.root, hwmon_name="sht21"), _now)
    assert sensor.read() == {"temperature": 20.5}


def test_cpu_temperature_comes_from_the_cpu_thermal_zone(tree: SysfsTree) -> None:
    tree.thermal(0, "gpu-thermal", 39000)
    tree.thermal(1, "cpu-thermal", 47236)
    sensor = open_sensor("thermal", SensorSettings(root=tree.root), _now)
    assert sensor.read() == {"cpu_temperature": 47.236}


@pytest.mark.parametrize("code", [errno.EIO, errno.ETIMEDOUT])
def test_dht_read_fault_is_a_sensor_error_that_says_what_to_check(
    tree: SysfsTree, code: int
) -> None:
    tree.iio(0, "dht11@4", in_temp_input=21500, in_humidityrelative_input=40200)
    files = FaultyFiles()
    files.fail("in_temp_input", code)
    sensor = SysfsSensor(IIO, tree.root, "dht11", files)
    with pytest.raises(SensorError, match=r"wiring|pull-up") as caught:
        sensor.read()
    assert caught.value.code == code
    assert not caught.value.gone
    assert sensor.read() == {"temperature": 21.5, "humidity": 40.2}


@pytest.mark.parametrize(
    ("kind", "file_name", "code"),
    [
        ("hwmon", "humidity1_input", errno.EIO),
        ("hwmon", "temp1_input", errno.EREMOTEIO),
        ("thermal", "temp", errno.ETIMEDOUT),
    ],
)
def test_hwmon_and_thermal_faults_are_sensor_errors_and_pass(
    tree: SysfsTree, kind: str, file_name: str, code: int
) -> None:
    tree.hwmon(0, "sht3x", temp1_input=22000, humidity1_input=45000)
    tree.thermal(0, "cpu-thermal", 47000)
    files = FaultyFiles()
    files.fail(file_name, code)
    sensor = open_sensor(kind, SensorSettings(root=tree.root), _now, files)
    with pytest.raises(SensorError) as caught:
        sensor.read()
    assert caught.value.code == code
    assert sensor.read()  # the next read works


def test_a_device_that_vanishes_is_looked_up_again(tree: SysfsTree) -> None:
    old = tree.iio(0, "dht11@4", in_temp_input=21500)
    sensor = SysfsSensor(IIO, tree.root, "dht11")
    assert sensor.read() == {"temperature": 21.5}
    old.unlink()  # the driver was reloaded and came back under another index
    tree.iio(3, "dht11@4", in_temp_input=23000)
    with pytest.raises(SensorError) as caught:
        sensor.read()
    assert caught.value.gone
    assert sensor.read() == {"temperature": 23.0}


def test_garbage_in_a_sysfs_file_is_a_sensor_error(tree: SysfsTree) -> None:
    tree.iio(0, "dht11@4", in_temp_input="abc")
    with pytest.raises(SensorError, match="not a number"):
        SysfsSensor(IIO, tree.root, "dht11").read()


def test_only_the_dht_driver_asks_for_two_seconds_between_reads(tree: SysfsTree) -> None:
    tree.iio(0, "dht11@4", in_temp_input=21500)
    tree.iio(1, "bme280", in_temp_input=21500)
    assert SysfsSensor(IIO, tree.root, "dht11").min_interval == 2.0
    assert SysfsSensor(IIO, tree.root, "bme280").min_interval == 0.0


def test_a_dht_found_without_its_name_is_paced_from_the_first_read(tree: SysfsTree) -> None:
    tree.iio(0, "dht11@4", in_temp_input=21500, in_humidityrelative_input=40200)
    assert SysfsSensor(IIO, tree.root).min_interval == 2.0


def test_a_dht_that_vanished_is_still_paced_while_it_is_looked_for(tree: SysfsTree) -> None:
    old = tree.iio(0, "dht11@4", in_temp_input=21500)
    sensor = SysfsSensor(IIO, tree.root)
    sensor.read()
    old.unlink()
    with pytest.raises(SensorError):
        sensor.read()
    assert sensor.min_interval == 2.0


def test_discover_lists_every_bus(tree: SysfsTree) -> None:
    tree.iio(0, "dht11@4", in_temp_input=21500, in_humidityrelative_input=40200)
    tree.hwmon(0, "sht4x", temp1_input=20000, humidity1_input=30000)
    tree.thermal(0, "cpu-thermal", 47000)
    found = {(d.kind, d.name, d.quantities) for d in discover(tree.root)}
    assert found == {
        ("iio", "dht11@4", ("temperature", "humidity")),
        ("hwmon", "sht4x", ("temperature", "humidity")),
        ("thermal", "cpu-thermal", ("cpu_temperature",)),
    }


def test_discover_on_a_machine_without_sensors_finds_nothing(tmp_path: Path) -> None:
    assert discover(tmp_path) == []


@pytest.mark.parametrize(
    "values",
    [
        {"temperature": -3276.8},
        {"humidity": 255.0},
        {"pressure": 12.0},
        {"temperature": float("nan")},
        {"anything": float("inf")},
    ],
)
def test_physically_impossible_values_are_refused(values: dict[str, float]) -> None:
    with pytest.raises(SensorError, match="discarded"):
        check_plausible(values)


def test_values_are_shown_with_their_units() -> None:
    assert format_values({"temperature": 21.5, "humidity": 40.0, "x": 1.0}) == (
        "temperature=21.5 °C, humidity=40 %RH, x=1"
    )


def _now() -> datetime:
    return datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def _day(seed: int, error_rate: float = 0.0) -> list[dict[str, float] | None]:
    moments = [datetime(2026, 11, 21, tzinfo=UTC) + timedelta(hours=h) for h in range(24)]
    clock = iter(moments)
    sensor = SimulatedSensor(lambda: next(clock), seed=seed, error_rate=error_rate)
    readings: list[dict[str, float] | None] = []
    for _ in moments:
        try:
            readings.append(sensor.read())
        except SensorError:
            next(clock)
            readings.append(None)
    return readings


def test_simulated_sensor_is_deterministic_under_a_seed() -> None:
    assert _day(seed=7) == _day(seed=7)
    assert _day(seed=7) != _day(seed=8)


def test_simulated_sensor_follows_a_daily_cycle_within_plausible_ranges() -> None:
    day = [r for r in _day(seed=1) if r is not None]
    assert day[17]["temperature"] > day[5]["temperature"] + 5  # afternoon warmer than dawn
    assert day[17]["humidity"] < day[5]["humidity"]
    for reading in day:
        check_plausible(reading)
        assert set(reading) <= set(PLAUSIBLE)


def test_simulated_sensor_injects_read_errors_at_the_configured_rate() -> None:
    failures = sum(r is None for seed in range(10) for r in _day(seed, error_rate=0.25))
    assert 30 < failures < 90  # 240 reads at 25 %


def test_every_kind_in_the_registry_opens(tree: SysfsTree) -> None:
    for kind in KINDS:
        assert open_sensor(kind, SensorSettings(root=tree.root), _now).kind == kind
