"""One module per tool that writes generation metadata into its images.

Importing a tool module registers its detector and parser (`..registered`).  The list is
static: a new tool is one module here and one line below.  Among parsers of equal
priority the order below is the order they are tried in."""

from . import (  # noqa: F401 - imported for their register() calls
    aigif_embedded,
    swarmui,
    stability_matrix,
    tensorart,
    novelai,
    invokeai,
    dream,
    fooocus,
    drawthings,
    paddlenlp,
    comfyui,
    diffusers_json,
    a1111,
)
