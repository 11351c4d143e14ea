"""Area conditioning in the ComfyUI graph engine (ConditioningSetArea, ...Percentage,
...Strength; aigif.diffusion.engines.comfyui.areas) against goldens made by running ComfyUI's
own nodes and samplers on the same graphs with the embedded tiny-sd
(tests/goldens/comfyui/areas.json; tools/goldens/comfyui_areas.py, README "areas.json").

The graphs live here; the golden script imports them.  Tolerance: tests/comfyui_goldens.py.
"""

from __future__ import annotations

import copy
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from comfyui_goldens import (  # noqa: E402  (after the importorskips)
    CKPT, COMFYUI_COMMIT, GOLDENS, TINY, assert_matches, base_graph, decode_save, exported_graph,
    import_and_unpack, node_types, summarise_latent, summarise_pixels)


def halves():
    """Left and right halves with their own prompts (the right one at strength 0.7) + the global prompt."""
    g = base_graph("a landscape with mountains, detailed", "blurry, lowres")
    g["20"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a (red house:1.2)"}}
    g["21"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a blue lake"}}
    g["22"] = {"class_type": "ConditioningSetArea", "inputs": {"conditioning": ["20", 0], "width": 32, "height": 64,
                                                               "x": 0, "y": 0, "strength": 1.0}}
    g["23"] = {"class_type": "ConditioningSetArea", "inputs": {"conditioning": ["21", 0], "width": 32, "height": 64,
                                                               "x": 32, "y": 0, "strength": 0.7}}
    g["24"] = {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["22", 0], "conditioning_2": ["23", 0]}}
    g["25"] = {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["24", 0], "conditioning_2": ["2", 0]}}
    g["5"] = {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "seed": 42, "steps": 10, "cfg": 7.0, "sampler_name": "dpmpp_2m", "scheduler": "karras",
        "positive": ["25", 0], "negative": ["3", 0], "latent_image": ["4", 0], "denoise": 1.0}}
    return decode_save(g, ("5", 0))


def mixed():
    """Areas of different shapes (odd cell counts, an inner box feathered on all four edges),
    a percentage area, a global prompt at strength 1.5, and an area on the negative side
    ConditioningConcat'ed to 154 tokens (batched with a 77-token twin by repetition)."""
    g = base_graph("a city street at night", "ugly")
    g["20"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a glowing (neon sign:1.1)"}}
    g["21"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "watermark, text"}}
    g["26"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "jpeg artifacts"}}
    g["22"] = {"class_type": "ConditioningSetAreaPercentage", "inputs": {
        "conditioning": ["20", 0], "width": 0.47, "height": 0.3, "x": 0.25, "y": 0.125, "strength": 1.2}}
    g["23"] = {"class_type": "ConditioningSetAreaStrength", "inputs": {"conditioning": ["2", 0], "strength": 1.5}}
    g["24"] = {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["22", 0], "conditioning_2": ["23", 0]}}
    g["27"] = {"class_type": "ConditioningSetArea", "inputs": {"conditioning": ["21", 0], "width": 40, "height": 24,
                                                               "x": 8, "y": 40, "strength": 0.8}}
    g["28"] = {"class_type": "ConditioningConcat", "inputs": {"conditioning_to": ["27", 0],
                                                              "conditioning_from": ["26", 0]}}
    g["29"] = {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["3", 0], "conditioning_2": ["28", 0]}}
    g["5"] = {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "seed": 7, "steps": 8, "cfg": 6.0, "sampler_name": "euler_ancestral", "scheduler": "normal",
        "positive": ["24", 0], "negative": ["29", 0], "latent_image": ["4", 0], "denoise": 1.0}}
    return decode_save(g, ("5", 0))


def nested():
    """A small area inside a big one, an area on the negative side that no positive area
    encloses, cfg 1 and a batch of two: the twins are made before cfg 1 drops the negative, so
    the positive side gains the global prompt on the negative's area (at its strength 0.9);
    the small area's negative twin comes from the big area's (its smallest enclosing entry)."""
    g = base_graph("a garden with flowers", "dull colors")
    g["4"]["inputs"]["batch_size"] = 2
    g["20"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a stone fountain"}}
    g["21"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a (bird:1.3)"}}
    g["26"] = {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "dark shadows"}}
    g["22"] = {"class_type": "ConditioningSetArea", "inputs": {"conditioning": ["20", 0], "width": 48, "height": 48,
                                                               "x": 0, "y": 0, "strength": 1.0}}
    g["23"] = {"class_type": "ConditioningSetArea", "inputs": {"conditioning": ["21", 0], "width": 16, "height": 16,
                                                               "x": 16, "y": 16, "strength": 0.5}}
    g["27"] = {"class_type": "ConditioningSetArea", "inputs": {"conditioning": ["26", 0], "width": 32, "height": 32,
                                                               "x": 32, "y": 32, "strength": 0.9}}
    g["24"] = {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["22", 0], "conditioning_2": ["23", 0]}}
    g["25"] = {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["24", 0], "conditioning_2": ["2", 0]}}
    g["29"] = {"class_type": "ConditioningCombine", "inputs": {"conditioning_1": ["3", 0], "conditioning_2": ["27", 0]}}
    g["5"] = {"class_type": "KSampler", "inputs": {
        "model": ["1", 0], "seed": 123, "steps": 6, "cfg": 1.0, "sampler_name": "euler", "scheduler": "normal",
        "positive": ["25", 0], "negative": ["29", 0], "latent_image": ["4", 0], "denoise": 1.0}}
    return decode_save(g, ("5", 0))


GRAPHS = {"halves": halves(), "mixed": mixed(), "nested": nested()}
LATENT_OUTPUTS = {name: [("5", 0)] for name in GRAPHS}


@pytest.fixture(scope="module")
def resources():
    from aigif.diffusion.engines.a1111.engine import A1111Model
    from aigif.diffusion.engines.comfyui.graph import GraphResources

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = A1111Model.from_pretrained(TINY, name="tiny-sd")
    yield GraphResources(checkpoint=lambda name: model if name == CKPT else None)
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def golden():
    data = json.loads((GOLDENS / "areas.json").read_text())
    assert data["comfyui_commit"] == COMFYUI_COMMIT
    return data


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_area_graph_against_comfyui(name, golden, resources):
    from aigif.diffusion.engines.comfyui.graph import run_graph

    want = golden["graphs"][name]
    assert want["graph"] == GRAPHS[name]
    result = run_graph(copy.deepcopy(GRAPHS[name]), resources)
    latents = [summarise_latent(result.latent(node, index)) for node, index in LATENT_OUTPUTS[name]]
    (pixels,) = result.images.values()
    assert_matches(latents, summarise_pixels(pixels), want)


def test_the_areas_change_the_image(golden):
    """ComfyUI's own result moves when the area prompts are left out (the goldens are live)."""
    for name in GRAPHS:
        assert golden["graphs"][name]["pixels"]["sha256"] != golden["graphs"][name]["without_areas_pixels_sha256"]


def test_area_arithmetic():
    """ComfyUI's rules on small cases: percentage rounding, clipping, the feathered edges, and
    the twins the other side gets (smallest enclosing entry; none for an equal area)."""
    from aigif.diffusion.engines.comfyui.areas import area_and_mult, prepare_sides, resolve_area
    from aigif.diffusion.engines.comfyui.graph import CondEntry

    assert resolve_area(("percentage", 0.3, 0.47, 0.125, 0.25), (32, 32)) == (10, 15, 4, 8)
    assert resolve_area(("percentage", 0.0, 1.0, 0.5, 0.0), (9, 9)) == (1, 9, 4, 0)  # round(4.5) = 4, min 1 cell
    x = torch.zeros(1, 1, 16, 16)
    crop, mult, area = area_and_mult(x, (8, 12, 4, 6), 2.0)
    assert area == (8, 10, 4, 6) and crop.shape == (1, 1, 8, 10)  # clipped to the latent
    row = mult[0, 0, 4].tolist()
    assert row[:2] == [1.0, 2.0] and row[-1] == 2.0  # left edge ramp over rr = 10 // 4 = 2; right edge is the latent's
    assert mult[0, 0, 0, 5].item() == 1.0 and mult[0, 0, 0, 0].item() == 0.5  # top ramp (rr = 2), corner: both
    assert mult[0, 0, 7, 5].item() == 1.0 and mult[0, 0, 6, 5].item() == 2.0  # bottom ramp: last row 1/rr
    assert area_and_mult(x, None, 0.5)[1].unique().tolist() == [0.5]
    with pytest.raises(Exception, match="outside"):
        area_and_mult(x, (4, 4, 16, 0), 1.0)

    def entry(tag, area=None, strength=1.0):
        return CondEntry(torch.full((1, 1, 1), float(tag)), None, strength, area=area)

    pos, neg = prepare_sides([entry(1, (4, 4, 0, 0), 0.5), entry(2)], [entry(3), entry(4, (8, 8, 0, 0))], (16, 16))
    # the positive area gets a twin of the negative's smallest enclosing entry (the 8x8 one), at its strength
    assert [(int(e.cross_attn), e.area, e.strength) for e in neg] == [
        (3, None, 1.0), (4, (8, 8, 0, 0), 1.0), (4, (4, 4, 0, 0), 0.5)]
    # the negative 8x8 area gets a twin of the global positive; the 4x4 twin already has its own area
    assert [(int(e.cross_attn), e.area) for e in pos] == [(1, (4, 4, 0, 0)), (2, None), (2, (8, 8, 0, 0))]


def test_area_widgets_are_checked(resources):
    from aigif.diffusion.engines.comfyui.graph import run_graph
    from aigif.errors import InvalidSyntax

    for change in ({"width": 8}, {"strength": 11.0}, {"x": -8}, {"height": 64.5}):
        graph = copy.deepcopy(GRAPHS["halves"])
        graph["22"]["inputs"].update(change)
        with pytest.raises(InvalidSyntax):
            run_graph(graph, resources)
    graph = copy.deepcopy(GRAPHS["halves"])
    graph["22"]["inputs"].update(x=64)  # starts at the latent's right edge: no cell left
    with pytest.raises(InvalidSyntax, match="outside"):
        run_graph(graph, resources)


@pytest.mark.parametrize("name", ["halves", "mixed"])
def test_area_graph_user_path(name, golden, resources, tmp_path, capsys):
    """ConditioningSetArea, ...Percentage and ...Strength are in extension 19's node table
    (15, 28, 29): a PNG carrying each graph -> aigif import -> aigif unpack gives ComfyUI's
    pixels, and the graph `aigif export --format comfyui` writes back has the same nodes and,
    run again, makes the same pixels.  (`nested` is a batch of two: a saved image is one of
    them, and which one is not recorded.)"""
    from aigif.diffusion.engines.comfyui.graph import run_graph

    case = golden["graphs"][name]
    pixels, syntax = import_and_unpack(case["graph"], tmp_path)
    stored = [n["type"] for n in syntax["extensions"]["comfyui_graph"]]
    assert sorted(t for t in stored if t.startswith("ConditioningSetArea")) == sorted(
        n["class_type"] for n in case["graph"].values() if n["class_type"].startswith("ConditioningSetArea"))
    assert_matches([], summarise_pixels(pixels), {"latents": [], "pixels": case["pixels"]})
    back = exported_graph(syntax)
    assert node_types(back) == node_types(case["graph"])
    (again,) = run_graph(back, resources).images.values()
    assert_matches([], summarise_pixels(again), {"latents": [], "pixels": case["pixels"]})
    capsys.readouterr()


def test_conditioning_lists_are_bounded(resources):
    """ConditioningCombine(c, c) chained doubles the list at each node (and every entry is a
    UNet input per step, plus its area twin): refused past limits.COMFYUI_MAX_CONDITIONING,
    before the list or any sampling grows with it."""
    import time

    from aigif import limits
    from aigif.diffusion.engines.comfyui.graph import run_graph
    from aigif.errors import LimitExceeded

    graph = copy.deepcopy(GRAPHS["halves"])
    previous = "22"
    for i in range(60):
        graph[f"c{i}"] = {"class_type": "ConditioningCombine",
                          "inputs": {"conditioning_1": [previous, 0], "conditioning_2": [previous, 0]}}
        previous = f"c{i}"
    graph["5"]["inputs"]["positive"] = [previous, 0]
    start = time.process_time()
    with pytest.raises(LimitExceeded, match=str(limits.COMFYUI_MAX_CONDITIONING)):
        run_graph(graph, resources)
    assert time.process_time() - start < 30  # a runaway guard, not a timing
