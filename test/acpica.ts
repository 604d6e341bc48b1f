// ACPICA's tools (Debian package acpica-tools), the reference implementation Linux itself
// embeds, as an external validator for the tests of @microvm/acpi and of the board: `iasl -d`
// disassembles a table and reports what it finds wrong, `acpiexec` loads a DSDT and evaluates
// its objects. One place for both suites.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Why the ACPICA tools cannot run here, or undefined when both are installed.
 *
 * @returns the reason
 */
export function acpicaMissing(): string | undefined {
  for (const name of ["iasl", "acpiexec"]) {
    const r = spawnSync(name, ["-v"], { encoding: "utf8" });
    if (r.error) return `${name} not installed (apt-get install acpica-tools)`;
  }
  return undefined;
}

/** A scratch directory for the tools' files; `dispose()` removes it. */
export class AcpicaWorkdir {
  readonly dir: string = mkdtempSync(join(tmpdir(), "microvm-acpica-"));

  /** Runs a tool in the directory. */
  run(cmd: string, args: string[]): { status: number | null; out: string } {
    const r = spawnSync(cmd, args, { cwd: this.dir, encoding: "utf8", timeout: 30_000 });
    return { status: r.status, out: `${r.stdout ?? ""}${r.stderr ?? ""}` };
  }

  /** Disassembles with `iasl -d`; returns the ASL and every line that reports a problem. */
  disassemble(name: string, bytes: Uint8Array): { dsl: string; problems: string[] } {
    writeFileSync(join(this.dir, `${name}.dat`), bytes);
    const r = this.run("iasl", ["-d", `${name}.dat`]);
    const dslFile = join(this.dir, `${name}.dsl`);
    const dsl = existsSync(dslFile) ? readFileSync(dslFile, "utf8") : "";
    const problems = [
      ...(r.status === 0 ? [] : [`iasl exited with ${r.status}`]),
      ...(dsl ? [] : ["no disassembly written"]),
      ...r.out.split("\n").filter((l) => /error|warning|incorrect|invalid/i.test(l) && !/\b0 Errors\b/.test(l)),
      ...dsl.split("\n").filter((l) => /error|warning|incorrect|invalid|\*\*\*\*/i.test(l)),
    ];
    rmSync(join(this.dir, `${name}.dat`));
    return { dsl, problems };
  }

  /**
   * Runs acpiexec in batch mode on a DSDT: each command (e.g. `evaluate \_SB.GED._EVT 9`) in turn.
   * Returns the values printed per evaluated path (`int <hex>`, `str <text>`, `buf <hex bytes>`,
   * or `other <line>`), the whole log and the exit status.
   */
  exec(bytes: Uint8Array, commands: string[]): { values: Map<string, string>; out: string; status: number | null } {
    writeFileSync(join(this.dir, "exec.dat"), bytes);
    const r = this.run("acpiexec", ["-b", commands.join("; "), "exec.dat"]);
    const values = new Map<string, string>();
    for (const block of r.out.split(/^Evaluation of /m).slice(1)) {
      const path = block.split(" ")[0] as string;
      const lines = block.split("\n").slice(1);
      const first = lines[0] ?? "";
      const int = /\[Integer\] = ([0-9A-F]+)/.exec(first);
      const str = /\[String\] Length \w+ = "(.*)"/.exec(first);
      if (int) values.set(path, `int ${BigInt(`0x${int[1]}`).toString(16)}`);
      else if (str) values.set(path, `str ${str[1]}`);
      else if (/\[Buffer\]/.test(first)) {
        const hex: string[] = [];
        for (const l of lines.slice(1)) {
          const m = /^\s+[0-9A-F]{4}: ((?:[0-9A-F]{2} )+)/.exec(l);
          if (!m) break;
          hex.push(...(m[1] as string).trim().split(" "));
        }
        values.set(path, `buf ${hex.join(" ").toLowerCase()}`);
      } else values.set(path, `other ${first.trim()}`);
    }
    return { values, out: r.out, status: r.status };
  }

  /** Removes the directory. */
  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
