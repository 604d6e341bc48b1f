// The browser example of @microvm/mptable: build the table of a 2-CPU board, decode it, and print
// what a guest would see. test/browser.test.ts bundles this for the browser platform and runs it
// in a context that has no Node globals.
import { decodeMpTable, encodeMpTable, formatMpTable, isMptableError } from "@microvm/mptable";

const bytes = encodeMpTable({ address: 0x9fc00, cpus: 2 });
const table = decodeMpTable(bytes, 0x9fc00);
console.log(formatMpTable(table));
try {
  encodeMpTable({ address: 0x9fc00, cpus: 255 });
} catch (e) {
  console.log(isMptableError(e) ? `error ${e.code}` : "unexpected error");
}
console.log(`bytes ${bytes.length}`);
