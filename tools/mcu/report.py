"""Judge one firmware run (logits identical to the host's, no floating point, sane
counts) and turn it into figures: flash, RAM, instructions per inference and per
MAC; the per-model table; per-function profiles."""
from __future__ import annotations

import bisect
from pathlib import Path

from firmware import INSTRUCTIONS_PER_TICK, Run, Target, float_check, section_sizes, symbols

# The SysTick cross-check: a tick is 40 instructions, and the harness executes a few
# instructions of its own between the two SysTick reads.
SYSTICK_SLACK = 2 * INSTRUCTIONS_PER_TICK


def memory_figures(elf: Path) -> tuple[dict, dict]:
    """(flash, static RAM) in bytes, from the ELF's sections and link.ld's symbols."""
    size = section_sizes(elf)
    sym = symbols(elf)
    flash = {"runtime": size.get(".runtime", 0), "helpers": size.get(".helpers", 0),
             "model": size.get(".model", 0), "harness_and_libc": size.get(".text", 0)}
    ram = {"runtime_data": sym["__runtime_data_end"] - sym["__runtime_data_start"],
           "runtime_bss": sym["__runtime_bss_end"] - sym["__runtime_bss_start"]}
    return flash, ram


def run_errors(run: Run, parsed: dict, n_inputs: int) -> list[str]:
    """Everything that makes a run unusable, before its numbers are looked at."""
    errors = [f"qemu exit status {run.returncode}"] if run.returncode != 0 else []
    errors += parsed["faults"]
    if parsed["check"] is None or parsed["check"]["status"] != 0:
        errors.append(f"pr_model_check: {parsed['check']}")
    if len(parsed["runs"]) != n_inputs:
        errors.append(f"{len(parsed['runs'])} of {n_inputs} inputs reported")
    if len(parsed["norms"]) != n_inputs:
        errors.append(f"{len(parsed['norms'])} of {n_inputs} normalization records")
    if len(run.marks) != 2 + MARKS_PER_INPUT * n_inputs:
        errors.append(f"{len(run.marks)} marker snapshots, expected "
                      f"{2 + MARKS_PER_INPUT * n_inputs} (did the plugin load?)")
    errors += [f"input {r['index']}: pr_model_run status {r['status']}"
               for r in parsed["runs"] if r["status"] != 0]
    errors += [f"input {r['index']}: causal normalization status {r['status']}"
               for r in parsed["norms"] if r["status"] != 0]
    return errors


#: Marker snapshots per input (main.c): before/after pr_norm_apply_s16_s8,
#: pr_model_run and pr_norm_update_s16.
MARKS_PER_INPUT = 6


def call_counts(run: Run, i: int) -> tuple[int, int]:
    """(model instructions, normalization instructions: apply + update) of input i."""
    m = run.marks[2 + MARKS_PER_INPUT * i: 2 + MARKS_PER_INPUT * (i + 1)]
    return m[3] - m[2], (m[1] - m[0]) + (m[5] - m[4])


def judge_runs(record: dict, run: Run, parsed: dict) -> tuple[list[dict], list[str]]:
    """Per input: logits against the expected ones, instructions, the SysTick check."""
    rows, errors = [], []
    for r, norm, inp, want, crc in zip(parsed["runs"], parsed["norms"], record["inputs"],
                                       record["expected"], record["expected_state_crc"]):
        count, norm_count = call_counts(run, r["index"])
        ticks = r["ticks"] * INSTRUCTIONS_PER_TICK
        row = {"frames": r["frames"], "macs": inp["macs"], "instructions": count,
               "instructions_per_mac": round(count / max(inp["macs"], 1), 3),
               "normalization_instructions": norm_count,
               "systick_instructions": ticks, "stack_bytes": r["stack_bytes"],
               "logits": r["logits"], "expected": want, "state_crc": norm["crc"],
               "expected_state_crc": crc,
               "match": r["logits"] == want and norm["crc"] == crc}
        rows.append(row)
        if r["frames"] != inp["frames"]:
            errors.append(f"input {r['index']}: {r['frames']} frames, expected "
                          f"{inp['frames']}")
        if r["logits"] != want:
            errors.append(f"input {r['index']} ({r['frames']} frames): logits "
                          f"{r['logits']} != host C and NumPy {want}")
        if norm["crc"] != crc or norm["heard"] != r["index"] + 1:
            errors.append(f"input {r['index']}: normalization state CRC {norm['crc']:08x} "
                          f"(heard {norm['heard']}) != host C and NumPy {crc:08x}")
        if abs(ticks - count) > SYSTICK_SLACK:
            errors.append(f"input {r['index']}: SysTick says {ticks} instructions, the "
                          f"plugin {count}")
    return rows, errors


def judge(target: Target, record: dict, elf: Path, run: Run, parsed: dict) -> dict:
    """The result of one (target, model) run; result["errors"] empty when all is well."""
    errors = run_errors(run, parsed, len(record["inputs"]))
    rows: list[dict] = []
    if not errors:
        rows, errors = judge_runs(record, run, parsed)
    float_problems, fp_moves = float_check(elf)
    errors += float_problems
    flash, ram = memory_figures(elf)
    if parsed["check"] is not None and "arena_bytes" in parsed["check"]:
        ram["arena"] = parsed["check"]["arena_bytes"]
    if rows:
        ram["stack_peak"] = max(r["stack_bytes"] for r in rows)
    return {"target": target.name, "cpu": target.cpu, "machine": target.machine,
            "kernels": parsed["build"], "ok": not errors, "errors": errors,
            "flash_bytes": flash, "ram_bytes": ram, "fpu_register_moves": fp_moves,
            "check_instructions": run.marks[1] - run.marks[0] if len(run.marks) > 1 else None,
            "runs": rows}


# --------------------------------------------------------------------------- tables

def longest(result: dict) -> dict | None:
    """The run of the longest input of a result (None if it has none)."""
    runs = result.get("runs") or []
    return max(runs, key=lambda r: r["frames"]) if runs else None


def model_table(records: list[dict], results: dict, targets: list[str]) -> str:
    """Markdown, one row per model: the longest input's MACs, the model's flash and
    RAM, and per target the instructions of one inference (and per MAC)."""
    head = ["model", "frames", "MACs", "flash: model", "RAM: arena + static"] + \
        [f"{t}: instructions (per MAC)" for t in targets]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for rec in records:
        res = [results.get((t, rec["backbone"])) for t in targets]
        first = next((r for r in res if r is not None and longest(r)), None)
        if first is None:
            continue
        run, ram = longest(first), first["ram_bytes"]
        cells = [rec["backbone"], str(run["frames"]), f"{run['macs'] / 1e6:.2f} M",
                 f"{first['flash_bytes']['model']:,} B",
                 f"{ram.get('arena', 0):,} B + {ram['runtime_data'] + ram['runtime_bss']} B"]
        for r in res:
            best = longest(r) if r else None
            cells.append(f"{best['instructions'] / 1e6:.2f} M "
                         f"({best['instructions_per_mac']:.2f})" if best else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def target_table(results: dict, targets: list[str]) -> str:
    """Markdown, one row per target: the runtime's flash, its helpers, the deepest
    stack of an inference, the one-time pr_model_check."""
    head = ["target", "kernels", "flash: runtime", "flash: libgcc/libc helpers",
            "stack (deepest inference)", "pr_model_check instructions (per model)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for t in targets:
        res = [r for (name, _), r in results.items() if name == t and "flash_bytes" in r]
        if not res:
            continue
        checks = " / ".join(f"{r['check_instructions'] / 1e6:.2f} M" for r in res
                            if r["check_instructions"] is not None)
        cells = [t, str(res[0]["kernels"]), f"{res[0]['flash_bytes']['runtime']:,} B",
                 f"{res[0]['flash_bytes']['helpers']:,} B",
                 f"{max(r['ram_bytes'].get('stack_peak', 0) for r in res):,} B", checks]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def profile_table(profile: dict[int, int], functions: list[tuple[int, int, str]],
                  top: int = 20) -> str:
    """Instructions per function of one segment (a plugin profile)."""
    starts = [f[0] for f in functions]
    per: dict[str, int] = {}
    for pc, n in profile.items():
        i = bisect.bisect_right(starts, pc) - 1
        name = functions[i][2] if i >= 0 else "?"
        per[name] = per.get(name, 0) + n
    total = sum(per.values()) or 1
    rows = sorted(per.items(), key=lambda kv: -kv[1])[:top]
    return "\n".join(f"  {name:<36}{n:>14,}{100 * n / total:>8.2f} %" for name, n in rows)
