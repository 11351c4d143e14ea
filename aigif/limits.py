"""Decoder limits (spec §9.1): decompression-bomb guards, checked before allocating.

Module constants so that an application can raise or lower them; every reader in AIGIF
consults them at call time, never caches them.
"""

MAX_FILE_BYTES = 1 << 30  # 1 GiB: a whole .aigif file
MAX_SEGMENT_BYTES = 1 << 28  # 256 MiB: one segment body (pixel payloads are the big ones)
MAX_SEGMENTS = 4096
MAX_TEXT_BYTES = 1 << 20  # 1 MiB of UTF-8 per text field, after decompression
MAX_NAME_BYTES = 1024  # inline model names, platform strings
MAX_WIDTH = 16384
MAX_HEIGHT = 16384
MAX_PIXELS = 1 << 28  # width * height, for payload images too
MAX_STEPS = 10000
MAX_EXTENSION_BYTES = 1 << 20  # one extension's msgpack payload
MAX_GUIDANCE_DIGITS = 12  # decimal mantissa digits of the guidance scale
MAX_GUIDANCE_SCALE = 9  # decimal places of the guidance scale
MAX_GENERATE_PIXELS = 4096 * 4096  # regeneration: larger sizes are legal in a file but refused before loading a model
