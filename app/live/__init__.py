"""The live side: what viewers see, throttled, rendered once and fanned out over SSE."""
