/**
 * The vCPU handler of the exit round-trip bench: counts `out` exits to port 0x10 and stops after
 * `data.exits`. It does what the C reference's loop does per exit: look at the port, count.
 */
import type { VcpuHandlerFactory } from "../src/index.ts";

export const createVcpuHandler: VcpuHandlerFactory = (ctx) => {
  const limit = (ctx.data as { exits: number }).exits;
  let n = 0;
  return {
    io(exit) {
      if (exit.port === 0x10 && ++n >= limit) ctx.stop();
      return undefined;
    },
  };
};
