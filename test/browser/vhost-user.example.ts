// The browser example of @microvm/vhost-user: a front-end's first messages (GET_FEATURES,
// SET_FEATURES, SET_MEM_TABLE with one fd, SET_VRING_CALL without), cut out of one byte stream by
// the framer and decoded, the back-end's reply encoded, and one refused message.
// test/browser.test.ts bundles this for the browser platform and runs it in a context that has no
// Node globals.
import {
  VhostUserFramer,
  decodeVhostUserMessage,
  encodeVhostUserMessage,
  encodeVhostUserU64Reply,
  isVhostUserError,
  negotiateVhostUserFeatures,
  vhostUserFdCount,
  vhostUserFeatureMask,
  type VhostUserMessageInput,
} from "@microvm/vhost-user";

const offered = vhostUserFeatureMask([32, 30]);
const sent: VhostUserMessageInput[] = [
  { request: "GET_FEATURES" },
  { request: "SET_FEATURES", payload: { type: "u64", value: 1n << 32n } },
  { request: "SET_MEM_TABLE", payload: { type: "memory-table", regions: [{ guestAddress: 0n, size: 0x8000000n, userAddress: 0x7f0000000000n, mmapOffset: 0n }] } },
  { request: "SET_VRING_CALL", payload: { type: "vring-fd", index: 0, noFd: true } },
];
const framer = new VhostUserFramer();
for (const msg of sent) {
  for (const frame of framer.push(encodeVhostUserMessage(msg), vhostUserFdCount(msg))) {
    const m = decodeVhostUserMessage(frame.bytes, frame.fdCount);
    console.log(`${m.request} ${m.payload.type} fds ${m.fdCount}`);
    if (m.request === "GET_FEATURES") console.log(`reply ${encodeVhostUserU64Reply("GET_FEATURES", offered).length} bytes`);
    if (m.request === "SET_FEATURES" && m.payload.type === "u64") console.log(`features 0x${negotiateVhostUserFeatures(offered, m.payload.value).toString(16)}`);
  }
}
try {
  decodeVhostUserMessage(new Uint8Array([99, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]), 0);
} catch (e) {
  console.log(isVhostUserError(e) ? `error ${e.code}` : "unexpected error");
}
