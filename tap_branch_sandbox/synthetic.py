"""Deterministic synthetic Branch data: the same seed, app and day always give the same rows.

Values are realistic on purpose: ISO and epoch-millisecond timestamps, JSON
inside CSV cells, commas, quotes and newlines inside quoted cells, unicode,
empty cells, long numeric ids.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import random
import typing as t

CHANNELS = ["facebook", "google", "email", "sms", "twitter", "tiktok", "organic", ""]
FEATURES = ["marketing", "sharing", "referral", "invite", "paid advertising", "journeys"]
CAMPAIGNS = [
    "spring_sale",
    "Black Friday, 2024",
    'launch "v2"',
    "été_promo",
    "retargeting-q3",
    "唯一活动",
    "",
]
STAGES = ["new_user", "level 1", "checkout", "onboarded", ""]
OSES = [("IOS", ["17.4", "16.7.2", "18.0"]), ("ANDROID", ["14", "13", "12"]), ("DESKTOP", [""])]
MODELS = ["iPhone15,2", "iPhone14,5", "Pixel 8", "SM-S918B", "iPad13,4", ""]
BROWSERS = ["Chrome", "Safari", "Firefox", "Samsung Internet", "Edge"]
COUNTRIES = ["US", "GB", "DE", "FR", "JP", "BR", "IN", "KR"]
PARTNERS = [
    "Facebook",
    "Google AdWords",
    "Apple Search Ads",
    "Snap",
    "TikTok",
    "Taptica",
    "Applovin",
]
EVENT_NAMES = [
    "install",
    "open",
    "reinstall",
    "web_session_start",
    "PURCHASE",
    "ADD_TO_CART",
    "COMPLETE_REGISTRATION",
    "custom_event_α",
]
DOMAINS = ["example.app.link", "example.test-app.link", "go.example.com"]
USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
]
TITLES = [
    "Summer sale, 50% off!",
    'He said "hi"\nthen left',
    "Café — crème brûlée",
    "普通の商品",
    "plain title",
]


def rng_for(*parts: object) -> random.Random:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def stable_id(*parts: object, digits: int = 18) -> str:
    """A numeric id as Branch writes them: long digit strings (compare as text, never as floats)."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    floor = 10 ** (digits - 1)
    return str(floor + int.from_bytes(digest[:8], "big") % (9 * floor))


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def moment_in_day(rng: random.Random, day: dt.date) -> dt.datetime:
    return day_start(day) + dt.timedelta(milliseconds=rng.randrange(86_400_000))


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def epoch_ms(moment: dt.datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def jdump(value: t.Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def gzip_csv(header: t.Sequence[str], rows: t.Iterable[t.Sequence[t.Any]]) -> t.Iterator[bytes]:
    """A gzip-compressed CSV file, produced chunk by chunk (never whole in memory)."""
    raw = io.BytesIO()
    compressor = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=5, mtime=0)
    text = io.TextIOWrapper(compressor, encoding="utf-8", newline="", write_through=True)
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    for index, row in enumerate(rows):
        writer.writerow(row)
        if index % 2000 == 1999 and raw.tell() > (1 << 18):
            yield raw.getvalue()
            raw.seek(0)
            raw.truncate()
    text.flush()
    text.detach()
    compressor.close()
    yield raw.getvalue()


def gzip_json_lines(objects: t.Iterable[t.Mapping[str, t.Any]]) -> t.Iterator[bytes]:
    """A gzip-compressed newline-delimited JSON file, produced chunk by chunk."""
    raw = io.BytesIO()
    compressor = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=5, mtime=0)
    for index, obj in enumerate(objects):
        compressor.write(json.dumps(obj, ensure_ascii=False).encode() + b"\n")
        if index % 2000 == 1999 and raw.tell() > (1 << 18):
            yield raw.getvalue()
            raw.seek(0)
            raw.truncate()
    compressor.close()
    yield raw.getvalue()
