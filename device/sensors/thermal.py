"""The thermal class: the Raspberry Pi's CPU temperature (thermal zone of type cpu-thermal)."""

from __future__ import annotations

from device.sensors.sysfs import Bus, Channel

THERMAL = Bus(
    kind="thermal",
    directory="sys/class/thermal",
    prefix="thermal_zone",
    name_file="type",
    # The zone's `temp` file is in milli-°C.
    channels=(Channel("cpu_temperature", "temp", 0.001),),
    input_suffix="",
    hint="set thermal_zone to one of the types listed (`cat /sys/class/thermal/*/type`)",
)
