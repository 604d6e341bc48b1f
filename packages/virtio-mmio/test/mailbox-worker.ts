// vCPU-side worker for mailbox.test.ts: forwards a fixed script of register accesses.
import { parentPort, workerData } from "node:worker_threads";
import { RegisterMailbox } from "../src/index.ts";

const box = new RegisterMailbox(workerData as SharedArrayBuffer);
const out: number[] = [];
out.push(box.call("read", 0x000, 4));
out.push(box.call("read", 0x008, 4));
box.call("write", 0x070, 4, 1);
out.push(box.call("read", 0x070, 4));
out.push(box.call("read", 0x000, 2)); // wrong width: 0, counted by the transport
parentPort!.postMessage(out);
