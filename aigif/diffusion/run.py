"""Regenerate one image from a ResolvedSyntax through diffusers, repeatably.

Quantisation: the pipeline is asked for output_type="np" (float32 in [0, 1], after
diffusers' own denormalise + clamp), and the 8-bit image is made with diffusers'
VaeImageProcessor.numpy_to_pil, i.e. exactly `(x * 255).round().astype(uint8)` - the
bytes are identical to output_type="pil", while the float array stays available to
the platform benchmarks (generate_array).
"""

from __future__ import annotations

from ..errors import InvalidSyntax, UnsupportedFeature
from ._quiet import quiet_libraries
from ._stack import import_stack
from .determinism import apply_determinism, attention_context, thread_count
from .extensions import pipeline_kwargs
from .pipelines import DEFAULT_CACHE, PipelineCache
from .platform import capture_platform

SEED_RANGE = range(0, 1 << 64)  # what torch.Generator.manual_seed accepts without wrapping


def generate(resolved, *, allow_download=False, device="cpu", dtype=None, threads=None, attention=None, progress=None, cache: PipelineCache | None = None):
    """-> (PIL.Image RGB, aigif.syntax.Platform of what ran)."""
    array, platform = generate_array(
        resolved,
        allow_download=allow_download,
        device=device,
        dtype=dtype,
        threads=threads,
        attention=attention,
        progress=progress,
        cache=cache,
    )
    from diffusers.image_processor import VaeImageProcessor

    return VaeImageProcessor.numpy_to_pil(array)[0].convert("RGB"), platform


def generate_array(resolved, *, allow_download=False, device="cpu", dtype=None, threads=None, attention=None, progress=None, cache: PipelineCache | None = None):
    """-> (float32 array HxWx3 in [0, 1] as diffusers returns it, Platform)."""
    torch, diffusers = import_stack()
    if not isinstance(resolved.seed, int) or resolved.seed not in SEED_RANGE:
        raise InvalidSyntax(f"seed {resolved.seed!r} is outside 0..2**64-1")
    cached = (cache or DEFAULT_CACHE).get(resolved.model, device=device, dtype=dtype, attention=attention, allow_download=allow_download)
    pipe = cached.pipe
    scheduler = cached.scheduler_for(diffusers, resolved.scheduler) if resolved.scheduler is not None else None
    extra, batch_index = pipeline_kwargs(resolved.extensions, pipe, scheduler or pipe.scheduler)

    call = dict(
        prompt=resolved.prompt,
        # None, not "": for SDXL (force_zeros_for_empty_prompt) an absent negative prompt
        # means zero embeddings, which is what a plain diffusers call does by default.
        negative_prompt=resolved.negative_prompt or None,
        num_inference_steps=resolved.steps,
        guidance_scale=float(resolved.guidance),
        width=resolved.width,
        height=resolved.height,
        output_type="np",
        **extra,
    )
    if progress is not None:

        def on_step_end(_pipe, step, _timestep, tensors):
            # num_timesteps, not steps: second-order schedulers (Heun) run more timesteps.
            progress(step + 1, getattr(_pipe, "num_timesteps", None) or resolved.steps)
            return tensors

        call["callback_on_step_end"] = on_step_end

    apply_determinism(torch, device)
    with cached.lock, thread_count(torch, threads) as used_threads, attention_context(torch, cached.attention):
        original = pipe.scheduler
        if scheduler is not None:
            pipe.scheduler = scheduler
        try:
            # A fresh CPU generator per call: the noise depends on the seed alone, on
            # any device (diffusers' randn_tensor draws on the CPU and moves it).
            generator = torch.Generator(device="cpu").manual_seed(resolved.seed)
            with torch.inference_mode(), quiet_libraries():
                images = pipe(generator=generator, **call).images
        except ValueError as e:
            raise UnsupportedFeature(f"the {type(pipe).__name__} refused these parameters: {e}") from None
        except RuntimeError as e:
            if cached.attention in ("math", "flash") and "kernel" in str(e).lower():
                raise UnsupportedFeature(f"attention {cached.attention!r} cannot run here: {str(e).splitlines()[0]}") from None
            raise
        finally:
            pipe.scheduler = original
        platform = capture_platform(pipe, device, cached.dtype, used_threads, cached.attention)
    return images[batch_index], platform
