#!/usr/bin/env node
/**
 * The `microvm` executable (package.json `bin`, built to dist/cli.js). Kept tiny: the command
 * line module is loaded first, and the machine only when a run is asked for.
 *
 * @module
 */
import { runCli } from "./cli/main.js";

void runCli(process.argv.slice(2)).then((code) => {
  // Worker threads and stdin would otherwise keep the process alive after the guest has ended.
  process.exit(code);
});
