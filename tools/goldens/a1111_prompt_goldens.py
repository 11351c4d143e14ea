"""Write tests/goldens/a1111/prompt_{schedules,attention,multicond}.json from A1111's own
modules/prompt_parser.py.

    python tools/goldens/a1111_prompt_goldens.py --a1111 /path/to/stable-diffusion-webui \
        --lark-site /path/with/lark-1.1.2 --commit <hash> --out-dir tests/goldens/a1111

The prompts are written here (hand-made edge cases plus a seeded random sample built
from syntax fragments); none comes from a third-party prompt collection.  A1111's
scheduler parses with lark's Earley parser, whose choice between parses of a prompt
with stray top-level brackets depends on Python's string-hash seed, so each schedule is
computed in child processes under several PYTHONHASHSEED values and every distinct
result is stored.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import a1111_reference  # noqa: E402

import _numerics  # noqa: E402,F401  (loads torch under portable CPU numerics)

HASH_SEEDS = (0, 1, 2, 3)
STEP_SETTINGS = [  # (base steps, hires steps, use_old_scheduling)
    (10, None, False), (20, None, False), (30, None, False), (4, None, False),
    (20, 30, False), (20, 30, True), (10, 10, False),
]
FUZZ_STEP_SETTINGS = [(10, None, False), (20, 30, False), (20, 30, True)]

SCHEDULE_PROMPTS = [
    "test",
    "",
    "a [b:3]",
    "a [b: 3]",
    "a [b:3 ]",
    "a [[[b]]:2]",
    "[(a:2):3]",
    "a [b : c : 1] d",
    "a[b:[c:d:2]:1]e",
    "a [unbalanced",
    "a [b:.5] c",
    "a [b:1.5] c",
    "a [b:c:0.25] d [e:f:0.75]",
    "fantasy landscape with a [mountain:lake:0.25] and [an oak:a christmas tree:0.75][ in foreground::0.6][ in background:0.25] [shoddy:masterful:0.5]",
    "[a|b]",
    "[a|b|c] cat",
    "[fe|]male",
    "[fe|||]male",
    "[|a]",
    "[a|(b:1.1)]",
    "[a|[b:c:3]]",
    "[[a|b]:[c|d]:5]",
    "[a:b:0]",
    "[a:b:-1]",
    "[a:b:+4]",
    "[a:b:1e1]",
    "[a:b:1.e0]",
    "[a:b:5.]",
    "[a:b:100]",
    "[a::5] b",
    "[:b:5] a",
    "[::5]",
    "[a:b:c]",
    "[a:b:3x]",
    "[a|b:3]",
    "(a|b) [c:d:2]",
    "a | b",
    "a \\[b:c:2\\]",
    "a \\\\[b:c:2]",
    "(masterpiece:1.2), [cat:dog:10], (best quality), [[low quality]]",
    "((a [b:c:2]))",
    "(a:[b:c:0.5])",
    "[(a:1.3):[b|c]:0.3], d",
    "portrait of [a woman:a man:12], [red|blue|green] hair, (detailed:1.1)",
    "[a: b :7]",
    "[a:b: 7 ]",
    "a\nb [c:d:2]",
    "trailing backslash \\",
    "((a][:b:c [d:3]",
    "a [{b|d{:.5] c",
    "[a:b:2])",
    "x ) [a:b:2]",
    "[x|y] ( z",
    "[a:[b:[c:[d:e:4]:3]:2]:1]",
    "[a:b:0.999]",
    "[a:b:1.0]",
    "[a:b:2.5]",
    "[a:b:25]",
    "[a:b:15]",
]

ATTENTION_PROMPTS = [
    "normal text",
    "an (important) word",
    "(unbalanced",
    "\\(literal\\]",
    "(unnecessary)(parens)",
    "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky))).",
    "",
    "(masterpiece:1.2), best quality, [[worst quality]]",
    "(a:1.5) (b:0.7) (c:0)",
    "(a: 1.25 )",
    "(a:+1.1)",
    "(a:-1)",
    "(a:.5)",
    "(a:1.)",
    "((a:1.2):1.3)",
    "[a (b) c]",
    "[[[a]]]",
    "((((((((a))))))))",
    "a:1.2)",
    "a) b] c",
    "\\\\ backslash \\ lone",
    "\\a \\: \\",
    "a BREAK b",
    "a BREAK",
    "BREAK a",
    "aBREAK b",
    "a BREAKb",
    "(a BREAK b)",
    "a BREAK BREAK b",
    "a\nBREAK\nb",
    "(a:1.2 BREAK b)",
    "(cat:1.1) AND (dog:0.9) :0.5",
    "a [b:c:2] (d:1.3)",
    "<lora:detail:0.8>, (detailed face:1.2)",
    "(a(b(c:1.5)d)e)",
    "[a:1.5]",
    "(a:1.5] b)",
    "(a:1.2:1.3)",
    "(a::1.2)",
    "(colon: in text)",
    "1girl, solo, (long hair:1.2), ((blue eyes)), [smile]",
    "(a)\\(b\\)(c)",
    "(\u0663:\u0663)",
]

MULTICOND_PROMPTS = [
    "a cat",
    "a cat AND a dog",
    "a cat AND a dog :1.2",
    "a cat :0.5 AND a dog :1.5",
    "a cat:2",
    "a cat : 2 ",
    "a cat :-1",
    "a cat :+.5",
    "a cat :1.",
    "a cat :1.2.3",
    "a cat :x",
    "ANDROID AND android",
    "a_AND_b",
    "a AND",
    "AND a",
    "AND",
    "a ANDb AND c",
    "x AND x AND x :3",
    "time: 12:30 AND y",
    "(a:1.2) AND [b:c:3] :0.7",
    "line one\nAND line two :2\n",
    "a\u00a0:3",
    "a :\u0663",
    "",
    "   ",
    "a AND  AND b",
]

FRAGMENTS = [
    "a", "b", "cat", " ", "  ", "[", "]", "(", ")", ":", "|", "3", "0.5", "1.5", "-1", "1e1",
    "\\", "\\(", "[a:b:2]", "[x|y]", "(q:1.2)", "[c::4]", "[:d:0.3]", ", ", "\n",
]


def fuzz_prompts(count: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    prompts: list[str] = []
    while len(prompts) < count:
        prompt = "".join(rnd.choice(FRAGMENTS) for _ in range(rnd.randint(1, 9)))
        if prompt not in prompts:
            prompts.append(prompt)
    return prompts


def _worker(args) -> int:
    """Child: compute every schedule under this process's hash seed; JSON on stdout."""
    ref = a1111_reference.load(args.a1111, args.lark_site)
    parser = ref.module("prompt_parser")
    jobs = json.load(sys.stdin)
    out = []
    for prompt, settings in jobs:
        results = []
        for base, hires, old in settings:
            try:
                results.append(parser.get_learned_conditioning_prompt_schedules([prompt], base, hires, old)[0])
            except Exception as error:  # A1111 raises on some prompts; record which
                results.append({"error": type(error).__name__})
        out.append(results)
    json.dump(out, sys.stdout)
    return 0


def _schedules(args, prompts_and_settings) -> list[list]:
    """Per job, per setting: the distinct results over HASH_SEEDS."""
    runs = []
    for hash_seed in HASH_SEEDS:
        env = dict(os.environ, PYTHONHASHSEED=str(hash_seed))
        command = [sys.executable, __file__, "--worker", "--a1111", args.a1111, "--commit", args.commit]
        if args.lark_site:
            command += ["--lark-site", args.lark_site]
        done = subprocess.run(command, input=json.dumps(prompts_and_settings), capture_output=True, text=True,
                              env=env, check=True)
        runs.append(json.loads(done.stdout))
    merged = []
    for job_index in range(len(prompts_and_settings)):
        per_setting = []
        for setting_index in range(len(prompts_and_settings[job_index][1])):
            distinct = []
            for run in runs:
                result = run[job_index][setting_index]
                if result not in distinct:
                    distinct.append(result)
            per_setting.append(distinct)
        merged.append(per_setting)
    return merged


def _write(path: Path, header: dict, cases: list) -> None:
    body = ",\n".join(json.dumps(case, ensure_ascii=False, separators=(",", ":")) for case in cases)
    text = json.dumps(header, ensure_ascii=False)[:-1] + ', "cases": [\n' + body + "\n]}\n"
    path.write_text(text, encoding="utf-8")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a1111", required=True)
    parser.add_argument("--lark-site", default=None, help="a directory holding lark 1.1.2, if not installed")
    parser.add_argument("--commit", required=True)
    parser.add_argument("--out-dir", default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return _worker(args)

    header = {
        "repository": "https://github.com/AUTOMATIC1111/stable-diffusion-webui",
        "commit": args.commit,
        "file": "modules/prompt_parser.py",
        "lark": "1.1.2",
    }
    out_dir = Path(args.out_dir)

    fuzz = [p for p in fuzz_prompts(200, seed=20240727) if p not in SCHEDULE_PROMPTS]
    jobs = [[p, STEP_SETTINGS] for p in SCHEDULE_PROMPTS] + [[p, FUZZ_STEP_SETTINGS] for p in fuzz]
    results = _schedules(args, jobs)
    cases = []
    for (prompt, settings), per_setting in zip(jobs, results):
        for (base, hires, old), distinct in zip(settings, per_setting):
            cases.append({"prompt": prompt, "base_steps": base, "hires_steps": hires, "use_old_scheduling": old,
                          "origin": "hand" if prompt in SCHEDULE_PROMPTS else "fuzz", "results": distinct})
    _write(out_dir / "prompt_schedules.json",
           dict(header, function="get_learned_conditioning_prompt_schedules(prompts, base_steps, hires_steps, use_old_scheduling)",
                hash_seeds=list(HASH_SEEDS)), cases)

    ref = a1111_reference.load(args.a1111, args.lark_site)
    prompt_parser = ref.module("prompt_parser")
    attention = []
    for prompt in ATTENTION_PROMPTS + [p for p in fuzz_prompts(120, seed=7) if "|" not in p]:
        try:
            attention.append({"prompt": prompt, "result": prompt_parser.parse_prompt_attention(prompt)})
        except Exception as error:
            attention.append({"prompt": prompt, "error": type(error).__name__})
    _write(out_dir / "prompt_attention.json", dict(header, function="parse_prompt_attention(text)"), attention)

    multicond = []
    for prompt in MULTICOND_PROMPTS:
        indexes, flat, index_of = prompt_parser.get_multicond_prompt_list([prompt])
        multicond.append({"prompts": [prompt], "indexes": indexes, "flat": list(flat), "index_of": index_of})
    batch = ["a AND b", "b AND c :2", "a AND a"]
    indexes, flat, index_of = prompt_parser.get_multicond_prompt_list(batch)
    multicond.append({"prompts": batch, "indexes": indexes, "flat": list(flat), "index_of": index_of})
    _write(out_dir / "prompt_multicond.json", dict(header, function="get_multicond_prompt_list(prompts)"), multicond)
    print(f"wrote {len(cases)} schedules, {len(attention)} attention, {len(multicond)} multicond cases to {out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
