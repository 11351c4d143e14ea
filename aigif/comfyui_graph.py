"""The comfyui_graph extension (code 19, spec §7.1.2): a ComfyUI API graph reduced to what
the ComfyUI engine needs, and back.

JSON form: a list of nodes, the last one the node whose output is the image; each node
{"type": ComfyUI class name, "inputs": {input name: value}}.  A value is a literal (a JSON
scalar), a link [node index, output slot] to an earlier node, or a reference [field] to a
SYNTAX field it equals (FIELDS), so the prompt is not stored twice.  A node type outside
NODES (a node this format cannot describe) is kept as {"type", "links"}: its class name and
its link inputs only (no literals), so that a generator refuses naming every such node.

msgpack form (the file): an array of nodes, each [type number, input number, value, ...]
(inputs ascending) or [class name, link, ...] for an untabled node; a reference is [field number].
Numbers are append-only tables; a number outside them reads as "node-<n>" / "input-<n>".

No torch here: the core, the importer and the exporter use it."""

from __future__ import annotations

import re

from . import limits

# Node type table (append-only): class name -> its inputs in ComfyUI's INPUT_TYPES order,
# each (name, kind): "L" a link input (MODEL, CLIP, CONDITIONING, LATENT, ...), "W" a widget
# (a literal, or a link to a primitive).  Input numbers are positions + 1, per node type.
NODES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("CheckpointLoaderSimple", (("ckpt_name", "W"),)),
    ("CLIPTextEncode", (("text", "W"), ("clip", "L"))),
    ("CLIPSetLastLayer", (("clip", "L"), ("stop_at_clip_layer", "W"))),
    ("LoraLoader", (("model", "L"), ("clip", "L"), ("lora_name", "W"), ("strength_model", "W"), ("strength_clip", "W"))),
    ("LoraLoaderModelOnly", (("model", "L"), ("lora_name", "W"), ("strength_model", "W"))),
    ("VAELoader", (("vae_name", "W"),)),
    ("VAEDecode", (("samples", "L"), ("vae", "L"))),
    ("EmptyLatentImage", (("width", "W"), ("height", "W"), ("batch_size", "W"))),
    ("KSampler", (("model", "L"), ("seed", "W"), ("steps", "W"), ("cfg", "W"), ("sampler_name", "W"), ("scheduler", "W"),
                  ("positive", "L"), ("negative", "L"), ("latent_image", "L"), ("denoise", "W"))),
    ("KSamplerAdvanced", (("model", "L"), ("add_noise", "W"), ("noise_seed", "W"), ("steps", "W"), ("cfg", "W"),
                          ("sampler_name", "W"), ("scheduler", "W"), ("positive", "L"), ("negative", "L"),
                          ("latent_image", "L"), ("start_at_step", "W"), ("end_at_step", "W"),
                          ("return_with_leftover_noise", "W"))),
    ("LatentUpscale", (("samples", "L"), ("upscale_method", "W"), ("width", "W"), ("height", "W"), ("crop", "W"))),
    ("LatentUpscaleBy", (("samples", "L"), ("upscale_method", "W"), ("scale_by", "W"))),
    ("ConditioningCombine", (("conditioning_1", "L"), ("conditioning_2", "L"))),
    ("ConditioningConcat", (("conditioning_to", "L"), ("conditioning_from", "L"))),
    ("ConditioningSetArea", (("conditioning", "L"), ("width", "W"), ("height", "W"), ("x", "W"), ("y", "W"), ("strength", "W"))),
    ("SamplerCustom", (("model", "L"), ("add_noise", "W"), ("noise_seed", "W"), ("cfg", "W"), ("positive", "L"),
                       ("negative", "L"), ("sampler", "L"), ("sigmas", "L"), ("latent_image", "L"))),
    ("SamplerCustomAdvanced", (("noise", "L"), ("guider", "L"), ("sampler", "L"), ("sigmas", "L"), ("latent_image", "L"))),
    ("BasicScheduler", (("model", "L"), ("scheduler", "W"), ("steps", "W"), ("denoise", "W"))),
    ("KSamplerSelect", (("sampler_name", "W"),)),
    ("RandomNoise", (("noise_seed", "W"),)),
    ("CFGGuider", (("model", "L"), ("positive", "L"), ("negative", "L"), ("cfg", "W"))),
    ("BasicGuider", (("model", "L"), ("conditioning", "L"))),
    ("ModelSamplingDiscrete", (("model", "L"), ("sampling", "W"), ("zsnr", "W"))),
    ("ModelSamplingFlux", (("model", "L"), ("max_shift", "W"), ("base_shift", "W"), ("width", "W"), ("height", "W"))),
    ("CLIPTextEncodeSDXL", (("clip", "L"), ("width", "W"), ("height", "W"), ("crop_w", "W"), ("crop_h", "W"),
                            ("target_width", "W"), ("target_height", "W"), ("text_g", "W"), ("text_l", "W"))),
    ("CLIPTextEncodeSDXLRefiner", (("ascore", "W"), ("width", "W"), ("height", "W"), ("text", "W"), ("clip", "L"))),
    ("DisableNoise", ()),
    ("ConditioningSetAreaPercentage", (("conditioning", "L"), ("width", "W"), ("height", "W"), ("x", "W"), ("y", "W"),
                                       ("strength", "W"))),
    ("ConditioningSetAreaStrength", (("conditioning", "L"), ("strength", "W"))),
)
NODE_NUMBER = {name: i + 1 for i, (name, _) in enumerate(NODES)}
INPUTS = {name: tuple(n for n, _ in ins) for name, ins in NODES}
INPUT_KIND = {name: dict(ins) for name, ins in NODES}

# SYNTAX fields a literal may reference (append-only): [number] in msgpack, [name] in JSON.
# sampler_name / scheduler are the ComfyUI pair the scheduler ID means (spec §7.1.2).
FIELDS = ("model", "prompt", "negative_prompt", "seed", "steps", "guidance", "width", "height",
          "sampler_name", "scheduler")
_FIELD_NUMBER = {name: i for i, name in enumerate(FIELDS)}
_UNLISTED_NODE = re.compile(r"node-([1-9][0-9]{0,8})")
_UNLISTED_INPUT = re.compile(r"input-([1-9][0-9]{0,8})")
MAX_SLOT = 63  # output slots of the tabled nodes are 0-2; a bound keeps values small
PASS_THROUGH = ("Reroute",)  # transparent in ComfyUI: the reduction follows their input


def _scalar(v) -> bool:
    return v is None or isinstance(v, (str, bool, int, float))


def _integral_float(v) -> bool:
    return isinstance(v, float) and v.is_integer() and abs(v) < 2 ** 53


def normalised(value):
    """The one form of a reduced graph's literals: an integral float (ComfyUI's 1.0 denoise,
    8.0 cfg) is written as the integer, which ComfyUI's FLOAT inputs take as the same value."""
    if not isinstance(value, list):
        return value
    out = []
    for node in value:
        if isinstance(node, dict) and isinstance(node.get("inputs"), dict):
            node = {**node, "inputs": {k: int(v) if _integral_float(v) else v for k, v in node["inputs"].items()}}
        out.append(node)
    return out


def is_link(v) -> bool:
    return (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in v))


def is_ref(v) -> bool:
    return isinstance(v, list) and len(v) == 1 and v[0] in _FIELD_NUMBER


def is_tabled(node_type: str) -> bool:
    return node_type in NODE_NUMBER or bool(_UNLISTED_NODE.fullmatch(node_type))


def _input_number(node_type: str, name: str) -> int | None:
    names = INPUTS.get(node_type, ())
    if name in names:
        return names.index(name) + 1
    m = _UNLISTED_INPUT.fullmatch(name)
    if m and int(m.group(1)) > len(names):
        return int(m.group(1))
    return None


def _node_number(node_type: str) -> int | None:
    if node_type in NODE_NUMBER:
        return NODE_NUMBER[node_type]
    m = _UNLISTED_NODE.fullmatch(node_type)
    if m and int(m.group(1)) > len(NODES):
        return int(m.group(1))
    return None


def _links_in_order(node: dict) -> list[int]:
    """The node indexes a node links to, in ascending input-number order (the walk order);
    an untabled node's links in their stored order."""
    if "links" in node:
        return [v[0] for v in node["links"] if is_link(v)]
    ins = node.get("inputs", {})
    keyed = sorted((_input_number(node["type"], k) or 0, v) for k, v in ins.items())
    return [v[0] for _, v in keyed if is_link(v)]


def postorder(nodes: list[dict]) -> list[int] | None:
    """Indexes in depth-first post-order from the last node (inputs ascending), or None when
    a link points at itself or later.  The one order of a reduced graph (spec §7.1.2)."""
    if not nodes:
        return None
    order: list[int] = []
    done: set[int] = set()
    links_of: dict[int, list[int]] = {}  # each node's links computed once, not once per visit
    stack: list[tuple[int, int]] = [(len(nodes) - 1, 0)]
    while stack:  # iterative: 10,000 chained nodes must not hit the recursion limit
        i, k = stack.pop()
        links = links_of.get(i)
        if links is None:
            links = links_of[i] = _links_in_order(nodes[i])
        if k < len(links):
            stack.append((i, k + 1))
            j = links[k]
            if not 0 <= j < i:
                return None
            if j not in done:
                stack.append((j, 0))
            continue
        if i not in done:
            done.add(i)
            order.append(i)
    return order


def problem(value) -> str | None:
    """Why a JSON value is not a canonical reduced graph, or None."""
    if not isinstance(value, list) or not value:
        return "not a non-empty list of nodes"
    if len(value) > limits.MAX_COMFYUI_NODES:
        return f"more than {limits.MAX_COMFYUI_NODES} nodes"
    for i, node in enumerate(value):
        if not isinstance(node, dict) or not isinstance(node.get("type"), str) or not node["type"]:
            return f"node {i} is not {{type, inputs}}"
        if not is_tabled(node["type"]):
            links = node.get("links", [])
            if set(node) - {"type", "links"} or not isinstance(links, list):
                return f"node {i}: an untabled node type ({node['type']}) has links only"
            if not all(is_link(v) and 0 <= v[0] < i and 0 <= v[1] <= MAX_SLOT for v in links):
                return f"node {i}: a link of {node['type']} does not point at an earlier node's output"
            continue
        ins = node.get("inputs", {})
        if set(node) - {"type", "inputs"} or not isinstance(ins, dict):
            return f"node {i} is not {{type, inputs}}"
        for name, v in ins.items():
            if _input_number(node["type"], name) is None:
                return f"node {i}: {node['type']} has no input {name!r}"
            if is_link(v):
                if not 0 <= v[0] < i or not 0 <= v[1] <= MAX_SLOT:
                    return f"node {i}: link {v} does not point at an earlier node's output"
            elif isinstance(v, list):
                if not (len(v) == 1 and v[0] in _FIELD_NUMBER):
                    return f"node {i}: {name} is neither a literal, a link nor a field reference"
            elif not _scalar(v):
                return f"node {i}: {name} is not a scalar"
            elif _integral_float(v):
                return f"node {i}: {name} = {v!r}: an integral number is written as an integer"
    if postorder(value) != list(range(len(value))):
        return "nodes not in the post-order of the walk from the last node, or not all reachable from it"
    return None


def to_msgpack(value: list) -> list:
    out = []
    for node in value:
        number = _node_number(node["type"])
        if number is None:
            out.append([node["type"], *node.get("links", [])])
            continue
        flat: list = [number]
        for code, v in sorted((_input_number(node["type"], k), v) for k, v in node.get("inputs", {}).items()):
            flat += [code, [_FIELD_NUMBER[v[0]]] if is_ref(v) else v]
        out.append(flat)
    return out


def from_msgpack(a) -> list | None:
    """The JSON form, or None when the shape is wrong or not the one encoding."""
    if not isinstance(a, list):
        return None
    nodes = []
    for flat in a:
        if not isinstance(flat, list) or not flat:
            return None
        head = flat[0]
        if isinstance(head, str):
            if is_tabled(head) or head == "" or not all(is_link(v) for v in flat[1:]):
                return None  # a tabled type written by name, or an untabled one with values
            nodes.append({"type": head, "links": list(flat[1:])} if len(flat) > 1 else {"type": head})
            continue
        if isinstance(head, bool) or not isinstance(head, int) or head < 1 or len(flat) % 2 != 1:
            return None
        node_type = NODES[head - 1][0] if head <= len(NODES) else f"node-{head}"
        names = INPUTS.get(node_type, ())
        inputs: dict = {}
        last = 0
        for code, v in zip(flat[1::2], flat[2::2]):
            if isinstance(code, bool) or not isinstance(code, int) or code <= last:
                return None  # input numbers strictly ascending: one encoding
            last = code
            name = names[code - 1] if code <= len(names) else f"input-{code}"
            if isinstance(v, list) and len(v) == 1:
                if isinstance(v[0], bool) or not isinstance(v[0], int) or not 0 <= v[0] < len(FIELDS):
                    return None
                v = [FIELDS[v[0]]]
            inputs[name] = v
        nodes.append({"type": node_type, "inputs": inputs})
    return nodes if problem(nodes) is None else None


def unsupported(value: list) -> list[str]:
    """The node types a generator of this table cannot honour (untabled, or newer numbers)."""
    return sorted({n["type"] for n in value if n["type"] not in NODE_NUMBER})


# -- API graph -> reduced graph (import) ---------------------------------------------------------
def _api_link(v) -> bool:
    return isinstance(v, list) and len(v) == 2 and isinstance(v[0], (str, int)) and isinstance(v[1], int) and not isinstance(v[1], bool)


def reduce(api: dict, output: str, fields: dict, literal=None) -> list[dict]:
    """The reduced graph of an API graph: the nodes the output (an image-producing node id)
    depends on, tabled inputs only, literals equal to `fields` as references.

    `literal(node_id, input_name)`: a widget value fed by a primitive node, else None."""
    g = {str(k): v for k, v in api.items() if isinstance(v, dict)}
    index: dict[str, int] = {}
    nodes: list[dict] = []

    followed: dict[str, str] = {}  # start -> where its pass-through chain ends

    def through(nid: str) -> str:
        # memoised: every consumer of a shared Reroute chain would otherwise walk it again
        # (3,000 encoders on one 64-hop chain cost 190k hops; now each start is walked once)
        if nid in followed:
            return followed[nid]
        start, hops = nid, 0
        while g.get(nid, {}).get("class_type") in PASS_THROUGH and hops < 64:
            src = next((v for v in g[nid].get("inputs", {}).values() if _api_link(v)), None)
            if src is None:
                break
            nid, hops = str(src[0]), hops + 1
        followed[start] = nid
        return nid

    def slot_of(nid: str, v) -> int:
        return v[1]

    # iterative post-order over the API graph: (node id, stage); links in input-number order
    start = through(str(output))
    stack: list[tuple[str, int]] = [(start, 0)]
    on_path: set[str] = set()
    while stack:
        nid, k = stack.pop()
        if nid in index:
            continue
        node = g.get(nid)
        ct = node.get("class_type", "") if node else f"missing node {nid}"
        kinds = INPUT_KIND.get(ct)
        links = []
        if kinds is None and node is not None:  # untabled: its links in the graph's order
            links = [through(str(v[0])) for v in node.get("inputs", {}).values() if _api_link(v)]
        if kinds is not None:
            for name in INPUTS[ct]:
                v = node.get("inputs", {}).get(name)
                if _api_link(v) and kinds[name] == "L":
                    links.append(through(str(v[0])))
                elif _api_link(v) and (literal is None or literal(nid, name) is None):
                    links.append(through(str(v[0])))  # a widget fed by a node we cannot read
        pending = [s for s in links if s not in index]
        if pending and k == 0:
            if nid in on_path:
                raise ValueError(f"the graph has a cycle through node {nid}")
            on_path.add(nid)
            stack.append((nid, 1))
            for s in reversed(pending):
                stack.append((s, 0))
            continue
        if any(s not in index for s in links):
            raise ValueError(f"the graph has a cycle through node {nid}")
        on_path.discard(nid)
        if kinds is None:
            links_out = [[index[through(str(v[0]))], v[1]] for v in (node or {}).get("inputs", {}).values() if _api_link(v)]
            nodes.append({"type": ct, "links": links_out} if links_out else {"type": ct})
        else:
            inputs: dict = {}
            for name in INPUTS[ct]:
                if name not in node.get("inputs", {}):
                    continue
                v = node["inputs"][name]
                if _api_link(v):
                    got = literal(nid, name) if (literal is not None and kinds[name] == "W") else None
                    if got is not None and _scalar(got):
                        v = got
                    else:
                        inputs[name] = [index[through(str(v[0]))], slot_of(nid, v)]
                        continue
                if not _scalar(v):
                    continue  # not a value ComfyUI's tabled nodes take: dropped, the engine refuses the gap
                ref = _reference(name, v, fields)
                inputs[name] = [ref] if ref else v
            nodes.append({"type": ct, "inputs": inputs})
        index[nid] = len(nodes) - 1
    return normalised(_canonical(nodes))


# which fields a node input may reference: the input's meaning must be the field's
_REFERABLE = {
    "ckpt_name": ("model",), "text": ("prompt", "negative_prompt"), "text_g": ("prompt", "negative_prompt"),
    "text_l": ("prompt", "negative_prompt"), "seed": ("seed",), "noise_seed": ("seed",), "steps": ("steps",),
    "cfg": ("guidance",), "width": ("width",), "height": ("height",), "sampler_name": ("sampler_name",),
    "scheduler": ("scheduler",),
}


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def _reference(name: str, v, fields: dict) -> str | None:
    for f in _REFERABLE.get(name, ()):
        if f in fields and fields[f] is not None and _same(v, fields[f]):
            return f
    return None


def _canonical(nodes: list[dict]) -> list[dict]:
    """Renumber into the post-order of the walk by input numbers (the one order)."""
    order = postorder(nodes)
    if order is None:
        raise ValueError("graph links out of order")
    new = {old: i for i, old in enumerate(order)}
    out = []
    for old in order:
        n = nodes[old]
        if "inputs" not in n:
            out.append({**n, "links": [[new[v[0]], v[1]] for v in n["links"]]} if "links" in n else dict(n))
            continue
        ins = {k: ([new[v[0]], v[1]] if is_link(v) else v) for k, v in n["inputs"].items()}
        out.append({"type": n["type"], "inputs": ins})
    return out


# -- reduced graph -> API graph (export, engine) ------------------------------------------------
def expand(value: list[dict], fields: dict, save: bool = True) -> dict:
    """The ComfyUI API graph (node ids "1".."n", a SaveImage last when `save`) of a reduced
    graph, references replaced by `fields`' values."""
    api: dict = {}
    for i, node in enumerate(value):
        if "inputs" not in node:  # untabled: its inputs were not kept (a generator refuses it)
            api[str(i + 1)] = {"class_type": node["type"], "inputs": {}}
            continue
        inputs = {}
        for name, v in node.get("inputs", {}).items():
            if is_link(v):
                inputs[name] = [str(v[0] + 1), v[1]]
            elif is_ref(v):
                inputs[name] = fields.get(v[0])
            else:
                inputs[name] = v
        api[str(i + 1)] = {"class_type": node["type"], "inputs": inputs}
    if save:
        api[str(len(value) + 1)] = {"class_type": "SaveImage",
                                    "inputs": {"filename_prefix": "AIGIF", "images": [str(len(value)), 0]}}
    return api


# -- the plain txt2img graph: what the SYNTAX fields alone mean under comfyui semantics --------
def scheduler_pair(entry) -> tuple[str, str] | None:
    """The (sampler_name, scheduler) a scheduler-table entry means in ComfyUI (spec §7.1.2):
    its first `comfyui` alias of the form "sampler|scheduler", else its first bare alias with
    scheduler "normal"; None when it has no ComfyUI name."""
    aliases = list(((getattr(entry, "aliases", None) or {}).get("comfyui")) or [])
    paired = [a for a in aliases if "|" in a]
    if paired:
        s, sch = paired[0].split("|", 1)
        return s, sch
    return (aliases[0], "normal") if aliases else None


def ckpt_file(name) -> str:
    """A model / LoRA / VAE name as the file name ComfyUI's loaders take."""
    name = str(name or "model")
    return name if re.search(r"\.(safetensors|ckpt|pt|pth|bin|gguf|sft)$", name, re.I) else f"{name}.safetensors"


def plain_api(fields: dict, lora=(), clip_skip=None, vae=None) -> dict:
    """The ComfyUI API graph the SYNTAX fields describe: CheckpointLoaderSimple -> LoraLoader
    chain -> CLIPSetLastLayer (clip_skip n: -n) -> CLIPTextEncode x2, EmptyLatentImage ->
    KSampler (denoise 1) -> VAEDecode (VAELoader with vae) -> SaveImage."""
    g: dict = {"4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": fields["model"]}}}
    model, clip, vae_out = ["4", 0], ["4", 1], ["4", 2]
    for i, lo in enumerate(lora or []):
        nid = str(20 + i)
        weight = lo.get("weight", 1.0)
        g[nid] = {"class_type": "LoraLoader", "inputs": {
            "lora_name": ckpt_file(lo.get("name")), "strength_model": weight,
            "strength_clip": lo.get("clip_weight", weight), "model": model, "clip": clip}}
        model, clip = [nid, 0], [nid, 1]
    if isinstance(clip_skip, int) and not isinstance(clip_skip, bool):
        g["10"] = {"class_type": "CLIPSetLastLayer", "inputs": {"stop_at_clip_layer": -clip_skip, "clip": clip}}
        clip = ["10", 0]
    if isinstance(vae, dict) and vae.get("name"):
        g["11"] = {"class_type": "VAELoader", "inputs": {"vae_name": ckpt_file(vae["name"])}}
        vae_out = ["11", 0]
    g["6"] = {"class_type": "CLIPTextEncode", "inputs": {"text": fields["prompt"], "clip": clip}}
    g["7"] = {"class_type": "CLIPTextEncode", "inputs": {"text": fields["negative_prompt"], "clip": clip}}
    g["5"] = {"class_type": "EmptyLatentImage", "inputs": {"width": fields["width"], "height": fields["height"], "batch_size": 1}}
    g["3"] = {"class_type": "KSampler", "inputs": {
        "seed": fields["seed"], "steps": fields["steps"], "cfg": fields["guidance"],
        "sampler_name": fields["sampler_name"], "scheduler": fields["scheduler"], "denoise": 1.0,
        "model": model, "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}}
    g["8"] = {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": vae_out}}
    g["9"] = {"class_type": "SaveImage", "inputs": {"filename_prefix": "AIGIF", "images": ["8", 0]}}
    return g


# extensions the plain graph is built from, beside the SYNTAX fields (spec §7.1.2)
PLAIN_EXTENSIONS = ("lora", "clip_skip", "vae")


def output_of(api: dict) -> str:
    """The node id a SaveImage/PreviewImage of an API graph takes its image from."""
    for nid, n in api.items():
        if isinstance(n, dict) and n.get("class_type") in ("SaveImage", "PreviewImage"):
            v = n.get("inputs", {}).get("images")
            if _api_link(v):
                return str(v[0])
    raise ValueError("the graph has no SaveImage")


def save_node_id(api: dict) -> str:
    """The id of an API graph's SaveImage node (the plain and expanded graphs have one)."""
    return next(nid for nid, n in api.items() if n.get("class_type") == "SaveImage")


def api_graph(extensions: dict, fields: dict) -> dict:
    """The API graph a syntax under comfyui semantics means: the reduced graph expanded, else
    the plain graph of the fields."""
    graph = extensions.get("comfyui_graph")
    if graph is not None:
        return expand(graph, fields)
    return plain_api(fields, extensions.get("lora"), extensions.get("clip_skip"), extensions.get("vae"))
