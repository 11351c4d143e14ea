"""The one mapping from another tool's sampler (+ schedule) name to an AIGIF scheduler.

Each tool writes the sampler in a dialect: A1111 names ('DPM++ 2M', schedule type apart),
ComfyUI names ('dpmpp_2m' + 'karras'), InvokeAI 2.x/dream names ('k_euler_a'), diffusers
class names.  Several tools write one dialect in another's place (ComfyUI save nodes write
'euler_ancestral_karras' into A1111 text; Fooocus runs ComfyUI's samplers), so each
dialect names the candidates to try, in order; the first one the registry knows wins.
The registry's alias tables (registry/schedulers) hold the names themselves."""

from __future__ import annotations

from dataclasses import dataclass

# ComfyUI's schedule names, as suffixes of a combined sampler name ('euler_karras')
COMFY_SCHEDULES = ("normal", "karras", "exponential", "sgm_uniform", "simple", "ddim_uniform", "beta", "linear_quadratic", "kl_optimal")
# A schedule the registry did not combine with the sampler but which changes nothing
NEUTRAL_SCHEDULES = ("automatic", "normal", "default")


@dataclass(frozen=True)
class SchedulerMatch:
    """What a tool's sampler name came to.  `tool`, `sampler` and `schedule` are the
    names that matched (the first ones tried, when none did); `entry` is the registry's
    scheduler entry or None; `note` explains a liberty taken (a '_gpu' variant)."""

    tool: str
    sampler: str
    schedule: str | None
    entry: object | None = None
    note: str | None = None

    @property
    def schedule_left_over(self) -> bool:
        """A schedule the matched scheduler does not include: the registry fell back to the
        bare sampler, so the schedule is kept apart to make the difference visible."""
        if self.entry is None or not self.schedule or self.schedule.lower() in NEUTRAL_SCHEDULES:
            return False
        aliases = getattr(self.entry, "aliases", {}) or {}
        combined = f"{self.sampler}|{self.schedule}".lower()
        return combined not in (a.lower() for a in aliases.get(self.tool, []))


def map_scheduler(registry, dialect: str, sampler, schedule=None) -> SchedulerMatch | None:
    """-> the match for `sampler` written in `dialect`, or None when there is no sampler.

    registry None (a broken registry) matches nothing: the caller keeps the names."""
    if sampler in (None, ""):
        return None
    sampler = str(sampler)
    schedule = None if schedule in (None, "") else str(schedule)
    first = SchedulerMatch(_tool_of(dialect), sampler, schedule)
    if registry is None:
        return first
    for tool, s, sch, note in _candidates(registry, dialect, sampler, schedule):
        if tool is None:  # an AIGIF canonical name, as AIGIF's own export writes it
            entry = registry.find_scheduler(s)
            if entry is not None:
                return SchedulerMatch(dialect, s, None, entry, note)
            continue
        entry = registry.scheduler_from_tool(tool, s, sch)
        if entry is not None:
            return SchedulerMatch(tool, s, sch, entry, note)
    return first


def _tool_of(dialect: str) -> str:
    return {"invoke2": "invokeai", "diffusers": "a1111"}.get(dialect, dialect)


def _candidates(registry, dialect: str, sampler: str, schedule: str | None):
    """(tool, sampler, schedule, note) to try in order; tool None: an AIGIF scheduler name."""
    if dialect == "a1111":
        yield "a1111", sampler, schedule, None
        low = sampler.lower()
        for sch in COMFY_SCHEDULES:  # a ComfyUI save node's 'euler_ancestral_karras'
            if low.endswith("_" + sch):
                yield "comfyui", low[: -len(sch) - 1], sch, None
        yield "comfyui", low, schedule, None
        if not schedule:
            yield None, sampler, None, None
    elif dialect == "comfyui":
        s = sampler[len("sample_") :] if sampler.startswith("sample_") else sampler  # early ComfyUI names
        if s.endswith("_gpu") and registry.scheduler_from_tool("comfyui", s, schedule) is None:
            note = f"sampler {s}: the '_gpu' variant draws its noise on the GPU; mapped to {s[:-4]}"
            yield "comfyui", s[:-4], schedule, note
        yield "comfyui", s, schedule, None
    elif dialect == "invoke2":  # InvokeAI 2.x / dream.py: k_lms, k_euler_a, ddim, plms
        yield "invokeai", sampler, schedule, None
        if sampler.startswith("k_"):
            yield "invokeai", sampler[2:], schedule, None
    elif dialect == "diffusers":  # a diffusers class name, else an A1111 name
        yield "diffusers", sampler, schedule, None
        yield "a1111", sampler, schedule, None
    else:
        yield dialect, sampler, schedule, None
