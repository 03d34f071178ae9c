"""Live frames as the SSE specification reads them."""

from __future__ import annotations

from app.web.sse_encoding import encode_event


def test_a_frame_has_id_event_and_one_data_line_per_line() -> None:
    assert encode_event("tile-1", "<p>\n  hi\n</p>", "r-7") == (
        b"id: r-7\nevent: tile-1\ndata: <p>\ndata:   hi\ndata: </p>\n\n"
    )


def test_an_empty_payload_still_makes_a_frame() -> None:
    assert encode_event("resync", "") == b"event: resync\ndata: \n\n"


def test_lines_split_on_cr_lf_and_crlf_only() -> None:
    data = "a\rb\r\nc\nd"
    assert encode_event("x", data) == b"event: x\ndata: a\ndata: b\ndata: c\ndata: d\n\n"


def test_unicode_line_separators_stay_inside_their_line() -> None:
    # U+2028, U+2029, U+0085, U+000B and U+001C are line breaks to str.splitlines(), not
    # to an SSE parser: split there, a device named with one would read differently.
    name = "green\u2028house\u2029\x85\x0b\x1c"
    assert encode_event("tile-1", name) == f"event: tile-1\ndata: {name}\n\n".encode()
