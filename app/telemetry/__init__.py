"""The telemetry context: devices, measurements, series and the events they publish."""
