/**
 * The small-footprint mode's settings of the V8 engine (`microvm --footprint small`). Node's
 * floor (`node -e 0`) is ~39 MiB; most of what a run adds above it, once no worker is used
 * (`--vcpu-threads native`), is V8 working harder than a VMM's main thread needs: its optimising
 * compiler (TurboFan: its machine code pages in the node binary, its compile zones) as soon as
 * the exit path gets hot, and a young generation that grows to several MiB. Measured on the test
 * guest with 2 vCPUs, blk and rng: each setting saves 2–5 MiB of peak RSS,
 * and neither changed the run's wall time or the blk guest's throughput there, because what
 * bounds a native vCPU's exit is the thread wake-ups, not the speed of the JavaScript.
 */

/**
 * The V8 flags of the small-footprint mode, in the order they are applied.
 *
 * - `--no-opt`: no optimising compiler; hot functions stay on V8's interpreter and baseline code.
 * - `--semi-space-growth-factor=1`: the young generation keeps its initial size (two 1 MiB semi-
 *   spaces) instead of doubling as allocation goes on; it is scavenged more often, in less time each.
 *
 * Both act when set at run time (before the hot code runs); the young generation's maximum
 * (`--max-semi-space-size`) does not, so it is not among them.
 *
 * @example
 * ```ts
 * import { SMALL_FOOTPRINT_V8_FLAGS } from "@microvm/microvm";
 * SMALL_FOOTPRINT_V8_FLAGS.join(" "); // "--no-opt --semi-space-growth-factor=1"
 * ```
 */
export const SMALL_FOOTPRINT_V8_FLAGS: readonly string[] = Object.freeze(["--no-opt", "--semi-space-growth-factor=1"]);

/**
 * Applies {@link SMALL_FOOTPRINT_V8_FLAGS} to this process's V8 (every isolate, workers made
 * later included). Call it once at start-up, before machines run: functions V8 has already
 * optimised stay optimised. It trades the speed of hot JavaScript for memory, so it is for a
 * program whose time goes to waiting on the guest, not for one serving heavy I/O from JavaScript
 * on a hardware-KVM host. The `microvm` CLI calls it for `--footprint small`.
 *
 * @example
 * ```ts
 * import { useSmallFootprint, createMachine } from "@microvm/microvm";
 * await useSmallFootprint();
 * const m = await createMachine({ kernel, vcpuThreads: "native" });
 * ```
 */
export async function useSmallFootprint(): Promise<void> {
  const { setFlagsFromString } = await import("node:v8");
  for (const flag of SMALL_FOOTPRINT_V8_FLAGS) setFlagsFromString(flag);
}
