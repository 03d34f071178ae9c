"""Sensors read through the kernel's drivers (IIO, hwmon, thermal), plus a simulated one.

registry.py holds the table of kinds; sysfs.py reads any driver declared as data.
"""
