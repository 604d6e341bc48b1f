import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { transform, type Plugin } from "esbuild";
import { defineConfig, type Options } from "tsup";

type TsupPlugin = NonNullable<Options["plugins"]>[number];

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const src = join(here, "src");

// The CLI's output files (docs/performance.md, "Start-up and footprint"): the `microvm` bin dist/cli.cjs, its
// lazily loaded chunks dist/cli-*.cjs, and dist/cli.js, an ESM alias of the bin for `node dist/cli.js`.
const cliOutputs = ["cli.cjs", "cli.cjs.map", "cli-*", "cli.js"];

/**
 * Two bundles of the CLI that must each be one file: the bin itself (src/cli.ts: the compile cache
 * and `--version`) and the command line's chunk (cli/main.ts and cli/args.ts: the flags, --help,
 * the errors). What they import is shared with the lazily loaded chunks (errors.ts,
 * host-forward.ts, @microvm/errors, the version), and esbuild would hoist it into shared chunks
 * that they then require at start-up. Resolved from each of them under a suffix of its own, those
 * modules are separate copies inlined into that bundle (the lazy chunks keep their own copy:
 * isMicrovmError checks a name and a code, not a class identity), so that dist/cli.cjs requires no
 * file of ours for `--version`, and one chunk for anything else before it knows what the command
 * line asks for. Packages the copies import that the CLI bundles (@microvm/errors, imported by
 * errors.ts) are copied the same way.
 */
const standaloneEntry: Plugin = {
  name: "microvm-cli-standalone-entry",
  setup(build) {
    /** Each bundle's own modules, and the suffix of the copies made for it. */
    const bundles = new Map([
      [join(src, "cli.ts"), "?cli-bin"],
      [join(src, "cli", "main.ts"), "?cli-command-line"],
      [join(src, "cli", "args.ts"), "?cli-command-line"],
    ]);
    const suffixes = new Set(bundles.values());
    const copyOf = (args: { importer: string; pluginData?: unknown }): string | undefined =>
      bundles.get(args.importer) ?? (args.pluginData as { copy?: string } | undefined)?.copy;
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      // Static imports of a bundle's modules and, transitively, of the copies made here.
      const suffix = copyOf(args);
      if (args.kind !== "import-statement" || !suffix) return undefined;
      const target = join(dirname(args.importer), args.path).replace(/\.js$/, ".ts");
      if (bundles.has(target)) return undefined;
      return { path: target, suffix };
    });
    // The packages the copies import that the CLI bundles (see noExternal below), resolved as
    // esbuild would and then copied under the same suffix.
    build.onResolve({ filter: /^@microvm\/errors$/ }, async (args) => {
      const suffix = (args.pluginData as { copy?: string } | undefined)?.copy;
      if (args.kind !== "import-statement" || !suffix) return undefined;
      const r = await build.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir });
      if (r.errors.length > 0) return { errors: r.errors };
      return { path: r.path, suffix };
    });
    build.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) =>
      suffixes.has(args.suffix)
        ? { contents: readFileSync(args.path, "utf8"), loader: args.path.endsWith("ts") ? "ts" : "js", resolveDir: dirname(args.path), pluginData: { copy: args.suffix } }
        : undefined,
    );
    // The CLI build does not clean dist/ (the library build owns it); it removes its own old files.
    build.onStart(() => {
      let names: string[] = [];
      try {
        names = readdirSync(dist);
      } catch {
        return;
      }
      for (const n of names) if (n === "cli.cjs" || n === "cli.cjs.map" || n === "cli.js" || n.startsWith("cli-")) rmSync(join(dist, n), { force: true });
    });
    build.onEnd((r) => {
      if (r.errors.length > 0) return;
      // `node dist/cli.js …` (the path the tests and older scripts use) runs the same bin.
      const alias = join(dist, "cli.js");
      writeFileSync(alias, '#!/usr/bin/env node\n// The `microvm` bin is dist/cli.cjs (CommonJS starts faster than an ES module entry); this is an alias.\nimport "./cli.cjs";\n');
      chmodSync(alias, 0o755);
    });
  },
};

/**
 * Each output file of the CLI build, an ES module, as CommonJS. A dynamic import() of one of our
 * chunks (a string literal, `./cli-….cjs`) or of a Node built-in module becomes a require() of it,
 * so that loading it needs no ES module loader; any other import() (a backend module the user
 * names, e.g. a `module:` device backend) stays a real import().
 */
const toCommonJs: TsupPlugin = {
  name: "microvm-cli-commonjs",
  async renderChunk(code, info) {
    if (info.type !== "chunk" || !info.path.endsWith(".cjs")) return undefined;
    const ours = code
      .replace(/\bimport\((["'])(\.\/cli-[\w.-]+\.cjs)\1\)/g, "Promise.resolve().then(() => require($1$2$1))")
      .replace(/\bimport\((["'])((?:node:)?[a-z_/]+)\1\)/g, (all, q: string, name: string) => (isBuiltin(name) ? `Promise.resolve().then(() => require(${q}${name}${q}))` : all));
    const r = await transform(ours, { format: "cjs", platform: "node", target: "es2022", minifyWhitespace: true, minifySyntax: true, sourcemap: "external", sourcefile: info.path });
    if (/\bimport\((["'])\.\//.test(r.code)) throw new Error(`${info.path}: an import() of a relative file is left (the CLI's chunks are loaded with require)`);
    return { code: r.code, map: r.map };
  },
};

/**
 * The CLI's lazily loaded code in few files. Left to itself, esbuild makes one chunk per dynamic
 * import() target plus one per set of targets that share a module: about ten files for
 * --info-mtree, each a resolve, a read and a compile. Here every dynamic import() of cli.ts,
 * main.ts and machine.ts goes to one of a few groups (virtual modules that re-export the real
 * ones), and each group also imports the groups it builds on (`uses`), so that what a lower group
 * needs is reached from every group above it alike and lands in one shared chunk per group:
 * - command-line (every command but `--version`): the flags, --help, the errors; compiled from the
 *   compile cache like the other chunks, which the bin itself cannot be;
 * - surface (--info-mtree without a kernel): the platform, the layout, the address spaces;
 * - planning (every run): the machine, the planner and the codecs;
 * - plan-printer (--print-plan; both engines): QEMU's command line and user networking, whose
 *   helper start-up (child_process) --info-mtree never loads;
 * - footprint (`--footprint small`): V8's settings;
 * - one group per engine, and one per device backend (tap, pty, image lock, terminal), loaded only
 *   when a device of that kind is configured.
 */
const lazyGroups: Plugin = {
  name: "microvm-cli-lazy-groups",
  setup(build) {
    const ns = "microvm-cli-group";
    const at = (...p: string[]): string => join(src, ...p);
    const groups: Record<string, { readonly members: readonly string[]; readonly uses: readonly string[] }> = {
      "command-line": { members: [at("cli", "main.ts")], uses: [] },
      surface: { members: [at("surface.ts"), at("engine-choice.ts"), at("platform.ts")], uses: [] },
      planning: { members: [at("machine.ts"), at("plan.ts")], uses: ["surface"] },
      // its own: it has an import() (node:v8, for the library's ES module build), and a chunk with
      // one is compiled without the compile cache (cli.ts), which the planning chunk must not lose
      footprint: { members: [at("node", "footprint.ts")], uses: [] },
      "plan-printer": { members: [at("format-plan.ts"), at("qemu", "command.ts"), at("node", "user-net.ts"), at("node", "passt.ts")], uses: ["planning"] },
      "qemu-engine": { members: [at("qemu", "machine.ts")], uses: ["planning", "plan-printer"] },
      "kvm-engine": { members: [at("kvm-machine.ts")], uses: ["planning", "plan-printer"] },
      tap: { members: [at("node", "tap.ts")], uses: ["planning"] },
      pty: { members: [at("node", "pty.ts")], uses: ["planning"] },
      image: { members: [at("node", "image.ts")], uses: ["planning"] },
      terminal: { members: [at("node", "terminal.ts")], uses: ["planning"] },
    };
    // One export of each group that others use (any would do: it makes the group reachable).
    const representative: Record<string, string> = { surface: "planSurface", planning: "planFor", "plan-printer": "formatPlan" };
    const groupOf = new Map(Object.entries(groups).flatMap(([g, { members }]) => members.map((f) => [f, g] as const)));
    const importers = new Set([at("cli.ts"), at("cli", "main.ts"), at("machine.ts")]);
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (args.kind !== "dynamic-import" || !importers.has(args.importer)) return undefined;
      const g = groupOf.get(join(dirname(args.importer), args.path).replace(/\.js$/, ".ts"));
      if (!g) throw new Error(`${args.importer}: import("${args.path}") is in no lazy group of tsup.config.ts`);
      return { path: g, namespace: ns };
    });
    build.onResolve({ filter: /^group:/ }, (args) => ({ path: args.path.slice("group:".length), namespace: ns }));
    build.onLoad({ filter: /.*/, namespace: ns }, (args) => {
      const g = groups[args.path];
      if (!g) throw new Error(`no lazy group ${args.path}`);
      // A named re-export rather than `export * as`: a namespace object would need esbuild's
      // __export helper, which it then puts in a chunk of its own that the entry also requires.
      const lines = [...g.members.map((m) => `export * from ${JSON.stringify(m)};`), ...g.uses.map((u, i) => `export { ${representative[u]} as __uses${i} } from "group:${u}";`)];
      return { contents: `${lines.join("\n")}\n`, loader: "ts", resolveDir: src };
    });
  },
};

export default defineConfig([
  {
    // The library. The handler modules are loaded by @microvm/kvm on the vCPU and I/O threads,
    // from dist/ next to the module that names them (src/kvm-machine.ts).
    // vhost-user-cli: the `microvm-vhost-user` daemon (package.json "bin"), a long-running process
    // whose start-up does not matter, built with the library.
    entry: { index: "src/index.ts", "vcpu-handler": "src/vcpu-handler.ts", "io-handler": "src/io-handler.ts", "vhost-user-cli": "src/vhost-user-cli.ts" },
    format: ["esm", "cjs"],
    dts: { entry: { index: "src/index.ts" } },
    sourcemap: true,
    // Everything in dist/ but the CLI build's files (the two builds run side by side).
    clean: cliOutputs.map((p) => `!${p}`),
    target: "es2022",
    shims: true,
  },
  {
    // The `microvm` bin (package.json "bin"): CommonJS, so that start-up needs no ES module loader
    // (~4 ms and ~1.9 MiB on Node 20), with the pure workspace codecs bundled in, so that no package
    // is resolved at run time except koffi (native) and @microvm/kvm (which starts its worker
    // files by path from its own dist/). Code behind a dynamic import() stays in separate chunks
    // (dist/cli-*.cjs, loaded with require), so --version loads only dist/cli.cjs, and --help the
    // command line's chunk as well.
    // The chunks sit in dist/ itself: the KVM engine finds vcpu-handler.js and io-handler.js next
    // to the module that names them.
    entry: { cli: "src/cli.ts" },
    // Built as split ES modules named .cjs, then each file turned into CommonJS by esbuild
    // (toCommonJs): tsup's own CommonJS splitting goes through sucrase, which also rewrites every
    // `?.` and `??` into helper calls.
    format: ["esm"],
    splitting: true,
    outExtension: () => ({ js: ".cjs" }),
    plugins: [toCommonJs],
    noExternal: ["@microvm/errors", "@microvm/mptable", "@microvm/pvh", "@microvm/virtio-mmio", "@microvm/acpi"],
    external: ["koffi", "@microvm/kvm"],
    esbuildPlugins: [standaloneEntry, lazyGroups],
    esbuildOptions(options) {
      options.chunkNames = "cli-[name]-[hash]";
      // import.meta.url per output file (tsup's own shim would sit in a chunk the entry requires).
      // Computed on first use: most runs of the entry never need it.
      options.define = { ...options.define, "import.meta.url": "__microvmMeta.url" };
      options.banner = { js: 'var __microvmMeta = { get url() { return require("node:url").pathToFileURL(__filename).href; } };' };
    },
    sourcemap: true,
    clean: false,
    target: "es2022",
  },
]);
