#!/usr/bin/env node
/**
 * `microvm-vhost-user`: our device models as a vhost-user back-end daemon for another VMM (after
 * QEMU's contrib/vhost-user-blk and rust-vmm's vhost-user-backend daemons).
 *
 *   microvm-vhost-user blk --socket PATH --image FILE [--read-only]
 *   microvm-vhost-user rng --socket PATH
 *
 * It listens on PATH (which must not exist), serves one front-end at a time and the next after it
 * (a restarted VMM reconnects), and on SIGINT or SIGTERM closes the connection, removes PATH and
 * exits 0. A front-end it refuses is named with the reason on stderr.
 *
 * @module
 */
import { BlkDevice, RngDevice, type VirtioDevice } from "@microvm/virtio-mmio";
import { isMicrovmError, MicrovmError } from "./errors.js";
import { FileBlockBackend } from "./node/file-block-backend.js";
import { VhostUserBackend } from "./node/vhost-user-backend.js";

const USAGE = `usage: microvm-vhost-user blk --socket PATH --image FILE [--read-only]
       microvm-vhost-user rng --socket PATH
Serves a virtio device model of @microvm/microvm to a vhost-user front-end (e.g. QEMU:
  -object memory-backend-memfd,id=mem,size=…,share=on -machine memory-backend=mem
  -chardev socket,id=c,path=PATH -device vhost-user-blk,chardev=c
  and on -M microvm: -global virtio-mmio.force-legacy=false).
`;

/** The parsed command line. */
interface Options {
  readonly kind: "blk" | "rng";
  readonly socket: string;
  readonly image?: string;
  readonly readOnly: boolean;
}

function bad(message: string): MicrovmError {
  return new MicrovmError("invalid-argument", message);
}

function parse(argv: readonly string[]): Options | "help" {
  if (argv.includes("--help") || argv.includes("-h")) return "help";
  const [kind, ...rest] = argv;
  if (kind !== "blk" && kind !== "rng") throw bad(`device: expected blk or rng, got ${kind === undefined ? "nothing" : JSON.stringify(kind)}`);
  let socket: string | undefined;
  let image: string | undefined;
  let readOnly = false;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i] as string;
    const value = (): string => {
      const v = rest[++i];
      if (v === undefined || v.startsWith("--")) throw bad(`${a}: expected a value`);
      return v;
    };
    if (a === "--socket") socket = value();
    else if (a === "--image" && kind === "blk") image = value();
    else if (a === "--read-only" && kind === "blk") readOnly = true;
    else throw bad(`${a}: unknown option for ${kind}; options: --socket PATH${kind === "blk" ? ", --image FILE, --read-only" : ""}`);
  }
  if (socket === undefined) throw bad("--socket PATH is required");
  if (kind === "blk" && image === undefined) throw bad("blk: --image FILE is required");
  return { kind, socket, readOnly, ...(image !== undefined ? { image } : {}) };
}

/**
 * Runs the daemon until a signal.
 *
 * @param argv - the arguments after the program name
 * @returns the exit status
 */
async function main(argv: readonly string[]): Promise<number> {
  let o: Options | "help";
  try {
    o = parse(argv);
  } catch (e) {
    process.stderr.write(`microvm-vhost-user: ${(e as Error).message}\n${USAGE}`);
    return 1;
  }
  if (o === "help") {
    process.stdout.write(USAGE);
    return 0;
  }
  const opts = o;
  const closers: (() => void)[] = [];
  let device: () => VirtioDevice;
  try {
    if (opts.kind === "blk") {
      // Opened once, up front: a missing image is an error before the socket exists.
      const disk = new FileBlockBackend(opts.image as string, { readOnly: opts.readOnly });
      closers.push(() => disk.close());
      device = () => new BlkDevice(disk);
    } else device = () => new RngDevice();
    const backend = VhostUserBackend.listen({ socket: opts.socket, device, log: (l) => process.stderr.write(`microvm-vhost-user: ${l}\n`) });
    closers.unshift(() => backend.close());
    process.stderr.write(`microvm-vhost-user: serving ${opts.kind} on ${opts.socket}\n`);
    const signal = await new Promise<string>((resolve) => {
      for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(s, () => resolve(s));
    });
    const st = backend.stats();
    process.stderr.write(`microvm-vhost-user: ${signal}: stopping after ${st.connections} front-end connection(s), ${st.kicks} kick(s), ${st.calls} interrupt(s)\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`microvm-vhost-user: ${isMicrovmError(e) ? e.message : String(e)}\n`);
    return 1;
  } finally {
    for (const c of closers) c();
  }
}

void main(process.argv.slice(2)).then((code) => process.exit(code));
