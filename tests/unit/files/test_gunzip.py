"""The gzip codec (ISA-L) against the standard library's gzip: what one writes the other
reads, and a damaged stream fails as a broken transfer (retried, then named) would."""

from __future__ import annotations

import gzip
import io

import pytest

from tap_branch.files import gunzip as deflate
from tap_branch.files.downloads import BROKEN_TRANSFER, GunzipAhead

TEXT = b"".join(b"%d,row %d,\xc3\xa9t\xc3\xa9\n" % (number, number) for number in range(20_000))


def gunzipped(body: bytes) -> bytes:
    with io.BufferedReader(GunzipAhead(io.BytesIO(body))) as reader:
        return reader.read()


def test_members_and_zero_padding_are_read_like_gzip():
    body = gzip.compress(TEXT[:1000]) + gzip.compress(TEXT[1000:]) + b"\x00" * 512
    assert gunzipped(body) == gzip.decompress(body) == TEXT


def test_a_wrong_crc_is_a_broken_transfer():
    body = bytearray(gzip.compress(TEXT))
    body[-8] ^= 0xFF  # the trailer's CRC-32
    with pytest.raises(BROKEN_TRANSFER):
        gunzipped(bytes(body))


def test_a_cut_stream_is_a_broken_transfer():
    body = gzip.compress(TEXT)
    with pytest.raises(EOFError):
        gunzipped(body[: len(body) // 2])


def test_what_the_batch_files_write_is_gzip():
    compressor = deflate.gzipper(1)
    written = b"".join(compressor.compress(TEXT[i : i + 4096]) for i in range(0, len(TEXT), 4096))
    written += compressor.flush()
    assert gzip.decompress(written) == TEXT
    assert len(written) < len(TEXT) / 2
