/**
 * The main job (`./run demo`): for now, build the MPTable of a 2-CPU microvm board, place it in a
 * guest-memory image at 0x9fc00, find it again the way Linux does, and print it decoded.
 * (It becomes a full boot of the demo machine once @microvm/microvm lands.)
 */
import { encodeMpTable, findMpTable, formatMpTable, inspectMpTable, locateMpTable } from "@microvm/mptable";

const address = 0x9fc00;
const bytes = encodeMpTable({ address, cpus: 2 });
const lowMemory = new Uint8Array(0x100000);
lowMemory.set(bytes, address);

const at = locateMpTable(lowMemory);
const table = findMpTable(lowMemory);
if (at === undefined || table === undefined) throw new Error("the MPTable was not found where it was placed");
const info = inspectMpTable(lowMemory, at, { memoryBase: 0 });

console.log(`MPTable of a 2-CPU microvm board: ${bytes.length} bytes, floating pointer found at 0x${at.toString(16)}`);
console.log(`entries: ${info.entryCount} (stored count ${info.storedEntryCount}), warnings: ${info.warnings.length}`);
console.log(formatMpTable(table));
