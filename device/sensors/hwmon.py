"""The hwmon class: SHT3x/SHT4x/SHT21 and similar I2C temperature and humidity sensors."""

from __future__ import annotations

from device.sensors.sysfs import Bus, Channel

HWMON = Bus(
    kind="hwmon",
    directory="sys/class/hwmon",
    prefix="hwmon",
    name_file="name",
    channels=(
        # hwmon units: milli-°C and milli-%RH.
        Channel("temperature", "temp1", 0.001),
        Channel("humidity", "humidity1", 0.001),
    ),
    # Older drivers keep their attributes in the parent device's directory.
    subdirectories=("", "device"),
    unnamed_needs="humidity",
    hint="enable the driver (for example dtoverlay=i2c-sensor,sht3x) and reboot, and set "
    "hwmon_name to the driver's name (the Pi's own cpu_thermal is also a hwmon device)",
)
