"""The IIO bus: DHT11/DHT22/AM2302 (dtoverlay=dht11), BME280/BMP280 (dtoverlay=i2c-sensor)."""

from __future__ import annotations

from types import MappingProxyType

from device.sensors.sysfs import Bus, Channel

IIO = Bus(
    kind="iio",
    directory="sys/bus/iio/devices",
    prefix="iio:device",
    name_file="name",
    channels=(
        # IIO units: milli-°C, milli-%RH and kPa.
        Channel("temperature", "in_temp", 0.001),
        Channel("temperature", "in_temp_ambient", 0.001),
        Channel("temperature", "in_temp0", 0.001),
        Channel("humidity", "in_humidityrelative", 0.001),
        Channel("humidity", "in_humidityrelative0", 0.001),
        Channel("pressure", "in_pressure", 10.0),
        Channel("pressure", "in_pressure0", 10.0),
    ),
    raw_and_scale=True,
    # The DHT driver measures at most every 2 s and answers from a cache in between.
    min_intervals=MappingProxyType({"dht11": 2.0}),
    hint="enable the driver in /boot/firmware/config.txt (dtoverlay=dht11,gpiopin=4 or "
    "dtoverlay=i2c-sensor,bme280) and reboot; `telemetry-agent discover` lists what is there",
)
