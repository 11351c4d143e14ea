"""Decoder limits (spec §9.1): decompression-bomb guards, checked before allocating.

Module constants so that an application can raise or lower them; every reader in AIGIF
consults them at call time, never caches them.
"""

# 128 MiB: a whole .aigif file.  The decoder holds the file plus one copy of each payload,
# so this keeps decoding under ~300 MB of memory; a lossless 8192 x 8192 PNG fits.
MAX_FILE_BYTES = 1 << 27
MAX_SEGMENT_BYTES = 1 << 27  # one segment body (pixel payloads are the big ones)
MAX_SEGMENTS = 4096
# 64 KiB of UTF-8 per text field, after decoding: five times the longest real prompt seen
# (~13 KB of 190,000 in the shared corpora), and it bounds the decoder's work per field.
MAX_TEXT_BYTES = 1 << 16
MAX_TOTAL_TEXT_BYTES = 96 << 10  # every text field of one SYNTAX segment together
MAX_NAME_BYTES = 1024  # inline model names, platform strings
MAX_WIDTH = 16384
MAX_HEIGHT = 16384
MAX_PIXELS = 1 << 28  # width * height, for payload images too
MAX_STEPS = 10000
MAX_EXTENSION_BYTES = 1 << 20  # one extension's msgpack payload
MAX_GUIDANCE_DIGITS = 12  # decimal mantissa digits of the guidance scale
MAX_GUIDANCE_SCALE = 9  # decimal places of the guidance scale
MAX_GENERATE_PIXELS = 4096 * 4096  # regeneration: larger sizes are legal in a file but refused before loading a model
# Not a file-format limit: one metadata field of a foreign image read by an importer (a
# ComfyUI workflow chunk is often over 100 KB); the texts it yields still meet MAX_TEXT_BYTES.
MAX_METADATA_BYTES = 1 << 20

# -- bounds of the file format's own segments -------------------------------------------
# PLATFORM body: flags, three enums, a 3-byte thread count, four strings of at most 255 bytes
MAX_PLATFORM_BYTES = 4 + 3 + 4 * (2 + 255)
MAX_EXTENSION_DEPTH = 32  # nesting of maps and arrays in one extension value

# -- bounds of foreign input read by the importers (not file-format limits) -------------
MAX_IMAGE_FILE_BYTES = 1 << 30  # an image file to import; only its metadata chunks are read
# All text fields of one imported image together; Pillow uses the same 64 MiB figure
# (PngImagePlugin.MAX_TEXT_MEMORY).
MAX_IMPORT_TEXT_TOTAL = 64 << 20
MAX_PNG_CHUNKS = 1 << 16  # a real PNG has a few dozen; a hostile one could have millions of 0-byte chunks
MAX_WEBP_CHUNKS = 1 << 16  # animated WebPs have one ANMF chunk per frame
MAX_EXIF_IFD_ENTRIES = 1024
MAX_EXIF_IFDS = 8
MAX_STEALTH_PIXELS = 1 << 25  # stealth LSB scan: 32 Mpx, larger than any generated image; bounds the pixel decode
MAX_INFOTEXT_PARAM_LINE = 256 * 1024  # the A1111 "Steps: ..., Sampler: ..." line
MAX_COMFYUI_NODES = 10000  # nodes of one ComfyUI prompt or workflow graph

# -- other bounds -----------------------------------------------------------------------
MAX_REGISTRY_NAME_LEN = 100  # characters of a registry entry name
MAX_PROMPT_MODEL_RAW_BYTES = 64 << 20  # the shipped prompt model, decompressed
# Memory of text codec 3's caches in a long-running process (cleared when full; not part
# of the codec: any size decodes the same)
MAX_PROMPT_CONTEXTS_CACHED = 1 << 20  # decoded model contexts, per order
MAX_PROMPT_EXCLUSIONS_CACHED = 1 << 19  # symbols excluded by a chain of escaped contexts


# -- generation engines (aigif.diffusion.engines): bounds on what a file or a user folder may ask of them
A1111_MAX_HIRES_SIDE = 16384  # a1111/hires.py
MAX_VAE_FOLDER_FILES = 5000  # a1111/vae.py
A1111_MAX_STEPS = 1000  # a1111/engine.py
A1111_MAX_BATCH = 64  # a1111/engine.py
A1111_MAX_SIDE = 8192  # a1111/engine.py
MAX_PROMPT_NESTING = 100  # brackets inside brackets; real prompts stay below ~10  (a1111/prompt_parser.py)
MAX_LORA_FILE_BYTES = 4 << 30  # a1111/lora.py
MAX_LORA_FOLDER_FILES = 20000  # a1111/lora.py
MAX_SAFETENSORS_HEADER_BYTES = 100 << 20  # a1111/lora.py
MAX_LORAS_PER_IMAGE = 64  # a1111/lora.py
MAX_EMBEDDING_FILE_BYTES = 64 << 20  # a1111/conditioning.py
MAX_EMBEDDING_FOLDER_FILES = 10000  # a1111/conditioning.py
COMFYUI_MAX_PROMPT_CHARS = 100_000  # comfyui/text.py
COMFYUI_MAX_CHUNKS = 64  # comfyui/text.py
COMFYUI_MAX_NODES = 500  # comfyui/graph.py
COMFYUI_MAX_DEPTH = 200  # comfyui/graph.py
COMFYUI_MAX_LATENT_ELEMENTS = 16 * 4 * 256 * 256   # a batch of 16 latents of 2048x2048 images  (comfyui/graph.py)
COMFYUI_MAX_STEPS = 10000  # comfyui/graph.py
COMFYUI_MAX_LORA_PATCHES = 64  # comfyui/lora.py
COMFYUI_MAX_CONDITIONING = 256  # entries of one CONDITIONING (ConditioningCombine doubles a list per node)  (comfyui/graph.py)
