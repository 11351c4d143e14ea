"""ComfyUI: the API prompt graph (`prompt` chunk; EXIF Make/Model "prompt:{...}"; a
{"prompt": ..., "workflow": ...} UserComment; Civitai's generator: the graph itself as the
UserComment, with its `extra`/`extraMetadata` keys) or, failing that, the UI `workflow` graph.

The graph is walked backwards from the save node: to the sampler that produced the
image (and through its latent input to earlier passes: hires fix, SDXL refiner), from
the sampler to the model loaders (LoRA chain, model-sampling patches), to the text
encoders (through ControlNet and conditioning nodes, to string primitives feeding
them), to the CLIP skip node and to the empty latent (size) or the encoded image
(img2img).  Nodes that are not on those paths do not affect the pixels and are ignored.
"""

from __future__ import annotations

from collections import deque

from aigif import comfyui_graph, limits
from aigif.errors import InvalidSyntax
from aigif.extensions import check_value

from ..draft import Draft, model_stem, registry, resolve_model, to_int, to_number
from ..registered import register

_SEED_KEYS = ("seed", "noise_seed", "seed_value")
# AIGIF field -> a KSampler's input (the seed has several names: _SEED_KEYS) / an Empty*LatentImage's input
SAMPLER_FIELDS = {"steps": "steps", "guidance": "cfg"}
LATENT_FIELDS = {"width": "width", "height": "height"}
_PASS_THROUGH = {"Reroute", "VAEDecode", "VAEDecodeTiled"}
_TEXT_KEYS = ("text", "text_g", "prompt", "string", "value", "text_positive")
_CONTROL_AFTER = "control_after_generate"

# UI widget order of the core nodes, to read a workflow-only file (widgets_values are a list)
WIDGETS = {
    "KSampler": ["seed", _CONTROL_AFTER, "steps", "cfg", "sampler_name", "scheduler", "denoise"],
    "KSamplerAdvanced": ["add_noise", "noise_seed", _CONTROL_AFTER, "steps", "cfg", "sampler_name", "scheduler",
                         "start_at_step", "end_at_step", "return_with_leftover_noise"],
    "SamplerCustom": ["add_noise", "noise_seed", _CONTROL_AFTER, "cfg"],
    "RandomNoise": ["noise_seed", _CONTROL_AFTER],
    "KSamplerSelect": ["sampler_name"],
    "BasicScheduler": ["scheduler", "steps", "denoise"],
    "CFGGuider": ["cfg"],
    "CheckpointLoaderSimple": ["ckpt_name"],
    "CheckpointLoader": ["config_name", "ckpt_name"],
    "UNETLoader": ["unet_name", "weight_dtype"],
    "CLIPLoader": ["clip_name", "type", "device"],
    "VAELoader": ["vae_name"],
    "LoraLoader": ["lora_name", "strength_model", "strength_clip"],
    "LoraLoaderModelOnly": ["lora_name", "strength_model"],
    "CLIPSetLastLayer": ["stop_at_clip_layer"],
    "CLIPTextEncode": ["text"],
    "EmptyLatentImage": ["width", "height", "batch_size"],
    "EmptySD3LatentImage": ["width", "height", "batch_size"],
    "LatentUpscale": ["upscale_method", "width", "height", "crop"],
    "LatentUpscaleBy": ["upscale_method", "scale_by"],
    "ImageScale": ["upscale_method", "width", "height", "crop"],
    "UpscaleModelLoader": ["model_name"],
    "ModelSamplingSD3": ["shift"],
    "ModelSamplingAuraFlow": ["shift"],
    "FluxGuidance": ["guidance"],
    "LoadImage": ["image", "upload"],
    "SaveImage": ["filename_prefix"],
    "PrimitiveNode": ["value", _CONTROL_AFTER],
}


def _is_link(v) -> bool:
    return isinstance(v, list) and len(v) == 2 and isinstance(v[0], (str, int)) and isinstance(v[1], int)


def _is_sampler(ct: str) -> bool:
    return "KSampler" in ct or ct in ("SamplerCustom", "SamplerCustomAdvanced")


def _is_output(node: dict) -> bool:
    ct = node.get("class_type", "")
    return ("Save" in ct or "Preview" in ct) and "images" in node.get("inputs", {})


def _is_loader(node: dict) -> bool:
    ins = node.get("inputs", {})
    return "ckpt_name" in ins or "unet_name" in ins


# -- finding the graphs -----------------------------------------------------------------
# Only the first field of each name is read, as every other tool's detector does: 63
# chunks named `prompt` must not cost 63 JSON parses (and their memory) per image.
def _api_graph(c):
    found = _api_graph_and_wrappers(c)
    return found[0] if found else None


def _api_graph_and_wrappers(c):
    """The API graph and the non-node keys it came with (Civitai's), or None."""
    g = _split_api(c.json(c.get("prompt")))
    if g is not None:
        return g
    for key in ("UserComment", "parameters"):
        obj = c.json(c.get(key))
        if isinstance(obj, dict) and _looks_api(obj.get("prompt")):
            return obj["prompt"], {}
        if key == "UserComment":
            g = _split_api(obj)  # Civitai's generator: the graph itself is the UserComment
            if g is not None:
                return g
    return None


# Keys Civitai's generator (its "orchestration" ComfyUI JSON) writes beside the nodes:
# `extra` (the resources as AIR URNs) and `extraMetadata` (a JSON string restating the
# prompt and parameters for the site).  Any other non-node key means it is not a graph.
_CIVITAI_WRAPPERS = ("extra", "extraMetadata")


def _split_api(obj):
    if _looks_api(obj):
        return obj, {}
    if not isinstance(obj, dict) or not any(k in obj for k in _CIVITAI_WRAPPERS):
        return None
    nodes = {k: v for k, v in obj.items() if k not in _CIVITAI_WRAPPERS}
    if not _looks_api(nodes):
        return None
    return nodes, {k: obj[k] for k in _CIVITAI_WRAPPERS if k in obj}


def _ui_graph(c):
    g = c.json(c.get("workflow"))
    if isinstance(g, dict) and isinstance(g.get("nodes"), list):
        return g
    for key in ("UserComment", "parameters"):
        obj = c.json(c.get(key))
        if isinstance(obj, dict) and isinstance(obj.get("workflow"), dict) and isinstance(obj["workflow"].get("nodes"), list):
            return obj["workflow"]
    return None


def _looks_api(g) -> bool:
    return isinstance(g, dict) and bool(g) and all(isinstance(n, dict) and "class_type" in n for n in g.values())


def detect(c) -> bool:
    return _api_graph(c) is not None or _ui_graph(c) is not None


def parse(c) -> Draft | None:
    d = Draft("comfyui")
    found = _api_graph_and_wrappers(c)
    g, wrappers = found if found else (None, {})
    d.leave("Civitai extra", wrappers.get("extra"), "Civitai resource references (AIR URNs)")
    d.ignore(["extraMetadata"] if "extraMetadata" in wrappers else [],
             "Civitai's restatement of the graph's prompt and parameters")
    if g is None:
        ui = _ui_graph(c)
        g = ui_to_api(ui, d.warnings)
        d.warnings.append("only the UI workflow is stored: values read from its widgets")
    if len(g) > limits.MAX_COMFYUI_NODES:
        raise ValueError(f"graph with {len(g)} nodes")
    w = Walker(g, d)
    w.run()
    if w.stale:
        d.leave("widget_values_used", sorted(set(w.stale)), "custom nodes feed these inputs; their UI widget values may be stale")
    record_semantics(d, w)
    d.extend("source", {"tool": "comfyui"})
    return d


# -- generation semantics (spec §7.1.2) ---------------------------------------------------------


def graph_fields(d: Draft, api: dict) -> dict:
    """The SYNTAX values a reduced graph may reference, as the draft sets them: the model is
    the ckpt_name the model field was read from (a literal naming it is the reference)."""
    fields = {k: d.syntax.get(k) for k in ("prompt", "negative_prompt", "seed", "steps", "guidance", "width", "height")}
    model = d.syntax.get("model")
    fields["model"] = None
    if model is not None:
        for n in api.values():
            ckpt = n.get("inputs", {}).get("ckpt_name") if isinstance(n, dict) else None
            if isinstance(ckpt, str) and resolve_model(ckpt, None, None, []) == model:
                fields["model"] = ckpt
                break
    pair = None
    reg = registry()
    if reg is not None and d.syntax.get("scheduler") is not None:
        entry = reg.find_scheduler(d.syntax["scheduler"])
        pair = comfyui_graph.scheduler_pair(entry) if entry is not None else None
    fields["sampler_name"], fields["scheduler"] = pair or (None, None)
    return fields


def record_semantics(d: Draft, w: "Walker") -> None:
    """semantics {engine: comfyui}, plus the reduced graph (extension 19) unless the graph is
    the plain txt2img graph the fields and the lora/clip_skip/vae extensions describe."""
    try:
        output = _image_source(w)
        if output is None:
            return
        fields = graph_fields(d, w.g)
        reduced = comfyui_graph.reduce(w.g, output, fields, literal=lambda nid, name: _widget(w, nid, name))
        if all(fields.get(k) is not None for k in ("model", "prompt", "negative_prompt", "seed", "steps", "guidance",
                                                   "width", "height", "sampler_name")):
            plain = comfyui_graph.plain_api(fields, d.ext.get("lora"), d.ext.get("clip_skip"), d.ext.get("vae"))
            if comfyui_graph.reduce(plain, comfyui_graph.output_of(plain), fields) == reduced:
                d.extend("semantics", {"engine": "comfyui"})
                return
        check_value("comfyui_graph", reduced)
    except (ValueError, InvalidSyntax) as e:
        d.warnings.append(f"ComfyUI graph not kept for the ComfyUI engine: {e}")
        return
    d.extend("semantics", {"engine": "comfyui"})
    d.ext["comfyui_graph"] = reduced  # the walk's lora/hires/... readings stay: other exporters use them
    missing = comfyui_graph.unsupported(reduced)
    if missing:
        d.warnings.append(f"the ComfyUI engine cannot honour node type(s) {', '.join(missing)}: regenerating will refuse")


def _image_source(w: "Walker") -> str | None:
    """The node the save node's image comes from, as the walk chose it (a save node with a
    sampler upstream)."""
    dead: set[str] = set()
    for nid, n in w.g.items():
        if _is_output(n) and w.upstream(nid, lambda x: _is_sampler(w.ct(x)), dead=dead):
            v = n["inputs"]["images"]
            return str(v[0]) if _is_link(v) else None
    return None


def _widget(w: "Walker", nid: str, name: str):
    """A widget input fed by a primitive node: its value, or None."""
    v = w.literal(nid, name)
    return None if _is_link(v) else v


# -- the walk -----------------------------------------------------------------------------
class Walker:
    def __init__(self, graph: dict, d: Draft):
        self.g = {str(k): v for k, v in graph.items() if isinstance(v, dict)}
        self.d = d
        self.seen_unknown: set[str] = set()
        self.stale: list[str] = []  # values read from UI widgets that a custom node overrides
        self._clip_layer: dict[str, str | None] = {}  # encoder -> its CLIPSetLastLayer (memo)
        self._controlnets: set[str] = set()

    def node(self, nid):
        return self.g.get(str(nid))

    def ins(self, nid) -> dict:
        n = self.node(nid)
        return n.get("inputs", {}) if n else {}

    def ct(self, nid) -> str:
        n = self.node(nid)
        return n.get("class_type", "") if n else ""

    def literal(self, nid, name, depth: int = 0):
        """An input's value, following links to primitive/literal nodes."""
        v = self.ins(nid).get(name)
        if _is_link(v):
            if depth > 8:
                return None
            src = str(v[0])
            src_ins = self.ins(src)
            for key in (name, "value", "seed", "int", "float", "number", "string", "text", "noise_seed"):
                if key in src_ins:
                    return self.literal(src, key, depth + 1)
            lits = [x for k, x in src_ins.items() if not _is_link(x) and k != "widgets_values"]
            if len(lits) == 1:
                return lits[0]
            fb = (self.node(nid) or {}).get("_fallback", {})
            if name in fb and fb[name] not in ("", None):
                self.d.warnings.append(f"{self.ct(nid)}.{name} comes from custom node {self.ct(src)}: its widget value was used")
                self.stale.append(f"{self.ct(nid)}.{name}")
                return fb[name]
            return None
        return v

    def upstream(self, start, pred, via=None, dead: set | None = None):
        """Breadth-first search against the data flow from node `start` for a node matching pred.

        `dead`: nodes known to have no match upstream, skipped; a search that finds
        nothing adds every node it saw, so that many searches over one shared chain (4,000
        save nodes on one long chain) cost one walk of it, not one each."""
        q, seen = deque([str(start)]), {str(start)}
        while q:
            nid = q.popleft()
            for name, v in self.ins(nid).items():
                if via is not None and name not in via:
                    continue
                if _is_link(v):
                    src = str(v[0])
                    if src in seen or src not in self.g or (dead is not None and src in dead):
                        continue
                    if pred(src):
                        return src
                    seen.add(src)
                    q.append(src)
        if dead is not None:
            dead.update(seen)
        return None

    def note_unknown(self, nid, why: str) -> None:
        if nid in self.seen_unknown:
            return
        self.seen_unknown.add(nid)
        lits = {k: v for k, v in self.ins(nid).items() if not _is_link(v)}
        self.d.leave(f"node {nid} {self.ct(nid)}", lits or True, why)

    # -- passes --------------------------------------------------------------------
    def run(self) -> None:
        outputs = [nid for nid, n in self.g.items() if _is_output(n)]
        final = None
        no_sampler: set[str] = set()
        for out in outputs:
            final = self.upstream(out, lambda n: _is_sampler(self.ct(n)), dead=no_sampler)
            if final:
                break
        if final is None:
            final = next((nid for nid, n in self.g.items() if _is_sampler(n.get("class_type", ""))), None)
        if final is None:
            return
        chain = [final]
        while len(chain) < 8:
            prev = self.upstream(chain[0], lambda n: _is_sampler(self.ct(n)), via=("latent_image", "samples", "pixels", "image", "latent"))
            if prev is None or prev in chain:
                break
            chain.insert(0, prev)
        base = chain[0]
        self.sampler(base, primary=True)
        for later in chain[1:]:
            self.second_pass(chain[chain.index(later) - 1], later)

    def _sub(self, nid, name):
        """The node feeding a SamplerCustomAdvanced slot (noise, guider, sampler, sigmas)."""
        v = self.ins(nid).get(name)
        return str(v[0]) if _is_link(v) else None

    def sampler_values(self, nid) -> dict:
        ins = self.ins(nid)
        vals = {}
        noise, guider, samp, sigmas = (self._sub(nid, k) for k in ("noise", "guider", "sampler", "sigmas"))
        holders = [nid] + [x for x in (noise, guider, samp, sigmas) if x]
        for key in _SEED_KEYS + ("steps", "cfg", "sampler_name", "scheduler", "denoise", "start_at_step", "end_at_step"):
            for h in holders:
                if key in self.ins(h):
                    vals[key] = self.literal(h, key)
                    break
        if sigmas and "scheduler" not in vals:
            cls = self.ct(sigmas)
            for word in ("Karras", "Exponential", "Beta", "SDTurbo", "AlignYourSteps", "PolyExponential"):
                if cls.startswith(word):
                    vals["scheduler"] = word.lower()
        cond_holder = guider or nid
        for k in ("model", "positive", "negative", "conditioning"):
            v = self.ins(cond_holder).get(k)
            if v is None and k == "model":
                v = ins.get(k)
            vals[k] = str(v[0]) if _is_link(v) else None
        lat = ins.get("latent_image")
        vals["latent"] = str(lat[0]) if _is_link(lat) else None
        consumed = set(_SEED_KEYS) | {"steps", "cfg", "sampler_name", "scheduler", "denoise", "model", "positive", "negative",
                                       "latent_image", "noise", "guider", "sampler", "sigmas", "start_at_step", "end_at_step",
                                       "add_noise", "return_with_leftover_noise", _CONTROL_AFTER}
        vals["extra"] = {k: v for k, v in ins.items() if k not in consumed and not _is_link(v)}
        return vals

    def sampler(self, nid, primary: bool) -> None:
        d = self.d
        v = self.sampler_values(nid)
        seed = next((v[k] for k in _SEED_KEYS if v.get(k) is not None), None)
        d.set("seed", seed)
        d.take(v.get, SAMPLER_FIELDS)  # v.get: v's other values are read below
        self.set_sampler(v.get("sampler_name"), v.get("scheduler"))
        extra = dict(v["extra"])
        ensd = extra.pop("ensd", None)
        if ensd is not None:
            d.extend("rng", {"ensd": to_int(ensd)})
        for k, val in extra.items():
            d.leave(f"{self.ct(nid)}.{k}", val)
        end, steps = v.get("end_at_step"), v.get("steps")
        if v.get("start_at_step") not in (None, 0):
            d.leave(f"{self.ct(nid)}.start_at_step", v["start_at_step"])
        if v.get("model"):
            self.model_path(v["model"])
        if v.get("positive"):
            d.set("prompt", self.cond_text(v["positive"], "positive"))
        elif v.get("conditioning"):
            d.set("prompt", self.cond_text(v["conditioning"], "conditioning"))
        if v.get("negative"):
            d.set("negative_prompt", self.cond_text(v["negative"], "negative"))
        if v.get("latent"):
            self.latent(v["latent"], v.get("denoise"))
        elif v.get("denoise") not in (None, 1, 1.0):
            d.leave("denoise", v["denoise"])
        self._end_at = (end, steps)

    def second_pass(self, prev, nid) -> None:
        d = self.d
        v = self.sampler_values(nid)
        pv = self.sampler_values(prev)
        model_here = self.loader_name(v.get("model"))
        model_before = self.loader_name(pv.get("model"))
        if model_here and model_before and model_here != model_before:
            ref = {"model": d.model_ref(model_stem(model_here))}
            steps = to_int(pv.get("steps"))
            end = to_int(pv.get("end_at_step"))
            if steps and end is not None and end < steps:
                ref["switch_at"] = round(end / steps, 6)
            if v.get("steps") != pv.get("steps"):
                ref["steps"] = to_int(v.get("steps"))
            d.extend("refiner", ref)
            return
        hires = {"steps": to_int(v.get("steps")), "denoise": to_number(v.get("denoise"))}
        if (v.get("sampler_name"), v.get("scheduler")) != (pv.get("sampler_name"), pv.get("scheduler")):
            name = d.scheduler_name("comfyui", v.get("sampler_name"), v.get("scheduler"))
            if name:
                hires["scheduler"] = name
            else:
                d.leave("hires.sampler", [v.get("sampler_name"), v.get("scheduler")])
        # what sits between the passes: upscaler model, resize
        between = self._between(v.get("latent"), prev)
        for nid2 in between:
            ct, ins = self.ct(nid2), self.ins(nid2)
            if ct == "UpscaleModelLoader":
                hires["upscaler"] = model_stem(str(ins.get("model_name")))
            elif "width" in ins and "height" in ins and not _is_link(ins["width"]):
                hires["width"], hires["height"] = to_int(ins["width"]), to_int(ins["height"])
                if "upscale_method" in ins and "upscaler" not in hires:
                    hires["upscaler"] = ins["upscale_method"]
            elif "scale_by" in ins:
                hires["scale"] = to_number(ins["scale_by"])
                hires.setdefault("upscaler", ins.get("upscale_method"))
        seed = next((v[k] for k in _SEED_KEYS if v.get(k) is not None), None)
        base_seed = self.d.syntax.get("seed")
        if seed is not None and to_int(seed) != base_seed:
            d.leave("hires.seed", seed, "the second pass used its own seed")
        if v.get("cfg") is not None and to_number(v["cfg"]) != self.d.syntax.get("guidance"):
            d.leave("hires.cfg", v["cfg"])
        d.extend("hires", {k: x for k, x in hires.items() if x is not None})

    def _between(self, start, stop) -> list[str]:
        out, q, seen = [], deque([start] if start else []), set()
        while q:
            nid = q.popleft()
            if nid in seen or nid == stop or nid not in self.g:
                continue
            seen.add(nid)
            out.append(nid)
            for name, v in self.ins(nid).items():
                if _is_link(v) and name not in ("vae", "model"):
                    q.append(str(v[0]))
        return out

    def set_sampler(self, sampler, scheduler) -> None:
        self.d.set_scheduler("comfyui", sampler, scheduler)

    def loader_name(self, nid):
        if nid is None:
            return None
        if _is_loader(self.node(nid) or {}):
            found = nid
        else:
            found = self.upstream(nid, lambda n: _is_loader(self.node(n)), via=("model",))
        if found is None:
            return None
        ins = self.ins(found)
        return self.literal(found, "ckpt_name" if "ckpt_name" in ins else "unet_name")

    def model_path(self, nid) -> None:
        d, loras = self.d, []
        cur, hops = nid, 0
        while cur is not None and hops < 64:
            hops += 1
            node = self.node(cur)
            if node is None:
                break
            ct, ins = node.get("class_type", ""), node.get("inputs", {})
            if _is_loader(node):
                name = self.literal(cur, "ckpt_name" if "ckpt_name" in ins else "unet_name")
                d.set_model(name)
                if "unet_name" in ins:
                    self.components()
                break
            if "lora_name" in ins:
                item = {"name": model_stem(str(self.literal(cur, "lora_name"))), "weight": to_number(self.literal(cur, "strength_model"))}
                cw = self.literal(cur, "strength_clip")
                if cw is not None and to_number(cw) != item["weight"]:
                    item["clip_weight"] = to_number(cw)
                loras.insert(0, item)
            elif ct.startswith("ModelSampling") and "shift" in ins:
                d.extend("pipeline_args", {"shift": to_number(self.literal(cur, "shift"))})
            elif ct not in _PASS_THROUGH:
                self.note_unknown(cur, "model patch")
            nxt = ins.get("model")
            cur = str(nxt[0]) if _is_link(nxt) else None
        if loras:
            d.extend("lora", loras)

    def components(self) -> None:
        """UNETLoader graphs load the text encoder and VAE separately."""
        for nid, n in self.g.items():
            ct, ins = n.get("class_type", ""), n.get("inputs", {})
            if ct.startswith("CLIPLoader") or ct.startswith("DualCLIPLoader"):
                names = [model_stem(str(v)) for k, v in ins.items() if k.startswith("clip_name")]
                self.d.leave("text_encoder", names if len(names) > 1 else names[0])
            elif ct == "VAELoader":
                self.d.extend("vae", {"name": model_stem(str(ins.get("vae_name")))})

    def cond_text(self, nid, role: str) -> str | None:
        texts, q, seen = [], deque([nid]), set()
        while q:
            cur = q.popleft()
            if cur in seen or cur not in self.g:
                continue
            seen.add(cur)
            ct, ins = self.ct(cur), self.ins(cur)
            text_key = next((k for k in _TEXT_KEYS if k in ins), None)
            if "TextEncode" in ct or (text_key and "clip" in ins):
                texts.append(self.encoder_text(cur))
                self.clip_skip(cur)
                continue
            if ct == "ConditioningZeroOut":  # SD3/Flux negative: the text upstream is zeroed
                texts.append("")
                self.d.leave(f"{role}.zero_out", True, "conditioning zeroed, not encoded from text")
                continue
            if ct.startswith("ControlNetApply"):
                self.controlnet(cur)
            elif ct == "FluxGuidance":
                g = to_number(self.literal(cur, "guidance"))
                cfg = self.d.syntax.get("guidance")
                self.d.syntax["guidance"] = g
                if cfg not in (None, 1):
                    self.d.extend("pipeline_args", {"cfg": cfg})
            elif not ct.startswith("Conditioning") and ct not in _PASS_THROUGH:
                self.note_unknown(cur, "conditioning node")
            for name, v in ins.items():
                if _is_link(v) and (name == role or name.startswith("conditioning")):
                    q.append(str(v[0]))
        texts = [t for t in texts if t is not None]
        if len(texts) > 1:
            self.d.leave(f"{role}_texts", texts, "several conditionings combined")
        return texts[0] if texts else None

    def encoder_text(self, nid) -> str | None:
        ins = self.ins(nid)
        if "text_g" in ins:
            g, l = self.literal(nid, "text_g"), self.literal(nid, "text_l")
            if l not in (None, "", g):
                self.d.leave("text_l", l, "SDXL second text encoder prompt")
            return g
        for k in _TEXT_KEYS:
            if k in ins:
                t = self.literal(nid, k)
                return None if t is None else str(t)
        return None

    def clip_layer_node(self, encoder) -> str | None:
        """The first CLIPSetLastLayer up the `clip` links from `encoder` (one link per node:
        a path), remembered for every node on the way: many encoders share one chain."""
        path, seen, cur, found = [], set(), str(encoder), None
        while True:
            if cur in self._clip_layer:
                found = self._clip_layer[cur]
                break
            path.append(cur)
            seen.add(cur)
            v = self.ins(cur).get("clip")
            src = str(v[0]) if _is_link(v) else None
            if src is None or src in seen or src not in self.g:
                break
            if self.ct(src) == "CLIPSetLastLayer":
                found = src
                break
            cur = src
        for n in path:
            self._clip_layer[n] = found
        return found

    def clip_skip(self, encoder) -> None:
        found = self.clip_layer_node(encoder)
        if found:
            layer = to_int(self.literal(found, "stop_at_clip_layer"))
            if layer is not None and layer <= -1:  # -1 too: under comfyui semantics the node is explicit
                self.d.extend("clip_skip", -layer)

    def controlnet(self, nid) -> None:
        ins = self.ins(nid)
        item = {"weight": to_number(self.literal(nid, "strength")) or 0}
        for k, out in (("start_percent", "start"), ("end_percent", "end")):
            if k in ins:
                item[out] = to_number(self.literal(nid, k))
        cn = ins.get("control_net")
        if _is_link(cn):
            item["model"] = model_stem(str(self.literal(str(cn[0]), "control_net_name")))
        items = self.d.ext.setdefault("controlnet", [])
        key = repr(sorted(item.items(), key=lambda kv: kv[0]))
        if key not in self._controlnets:  # a set: a list's `in` made 5,000 units quadratic
            self._controlnets.add(key)
            items.append(item)
            img = ins.get("image")
            if _is_link(img):
                self.d.leave(f"controlnet{len(items) - 1}.image", self.literal(str(img[0]), "image") or self.ct(str(img[0])), "control image not embedded")

    def latent(self, nid, denoise) -> None:
        d = self.d
        ct, ins = self.ct(nid), self.ins(nid)
        if "width" in ins and "height" in ins and "Empty" in ct:
            d.take(lambda key: self.literal(nid, key), LATENT_FIELDS)
            bs = to_int(self.literal(nid, "batch_size"))
            if bs and bs > 1:
                d.leave("batch_size", bs, "batch: which image of the batch this is is not recorded")
            if "length" in ins:
                d.leave("length", self.literal(nid, "length"), "video frames")
            if denoise not in (None, 1, 1.0):
                d.leave("denoise", denoise)
            return
        if ct.startswith("VAEEncode"):
            d.extend("img2img", {"strength": to_number(denoise) if denoise is not None else 1})
            src = self.upstream(nid, lambda n: self.ct(n).startswith("LoadImage"))
            if src:
                d.leave("init_image", self.literal(src, "image"), "init image not embedded")
            return
        self.note_unknown(nid, "latent source")


# -- UI workflow -> API graph ----------------------------------------------------------------
def ui_to_api(ui: dict, warnings: list[str]) -> dict:
    nodes = [n for n in ui.get("nodes", []) if isinstance(n, dict)]
    if len(nodes) > limits.MAX_COMFYUI_NODES:
        raise ValueError(f"workflow with {len(nodes)} nodes")
    by_id = {str(n.get("id")): n for n in nodes}
    links = {}
    for lk in ui.get("links") or []:
        if isinstance(lk, list) and len(lk) >= 5:
            links[lk[0]] = (str(lk[1]), lk[2])
        elif isinstance(lk, dict) and "id" in lk:
            links[lk["id"]] = (str(lk.get("origin_id")), lk.get("origin_slot", 0))
    api = {}
    for nid, n in by_id.items():
        if n.get("mode") in (2, 4):  # muted / bypassed
            continue
        ct = n.get("type", "")
        names = list(WIDGETS.get(ct, []))
        wv = n.get("widgets_values")
        inputs: dict = {}
        fallback: dict = {}
        if isinstance(wv, list) and names:
            if _CONTROL_AFTER in names and len(wv) == len(names) - 1:
                names.remove(_CONTROL_AFTER)
            for name, val in zip(names, wv):
                if name != _CONTROL_AFTER:
                    inputs[name] = val
        elif isinstance(wv, dict):
            inputs.update(wv)
        elif wv:
            inputs["widgets_values"] = wv  # unknown node: keep its values for the record
        for inp in n.get("inputs") or []:
            link = inp.get("link")
            if link is None or link not in links:
                continue
            src, slot = links[link]
            name = inp.get("name")
            src_node = by_id.get(src, {})
            if src_node.get("type") == "PrimitiveNode" and isinstance(src_node.get("widgets_values"), list):
                inputs[name] = src_node["widgets_values"][0]
                continue
            if name in inputs:
                fallback[name] = inputs[name]
            inputs[name] = [src, slot]
        api[nid] = {"class_type": ct, "inputs": inputs}
        if fallback:
            api[nid]["_fallback"] = fallback
    return api


register("comfyui", detect, parse, priority=50)
