// The QMP layer of the QEMU engine: splitQmp (pure: a byte stream into JSON objects) and
// QmpClient against a fake QMP server on a unix socket (no QEMU needed).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { isMicrovmError, QmpClient, splitQmp, type QmpEvent } from "../src/index.js";
import { codeOf } from "./helpers.js";


async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (isMicrovmError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  return { code: "no error", message: "" };
}

/** Feeds `chunks` through splitQmp the way the client does; returns the messages and the final rest. */
function feed(chunks: readonly string[]): { messages: Record<string, unknown>[]; rest: string } {
  const messages: Record<string, unknown>[] = [];
  let rest = "";
  for (const c of chunks) {
    const r = splitQmp(rest + c);
    messages.push(...r.messages);
    rest = r.rest;
  }
  return { messages, rest };
}

describe("splitQmp", () => {
  it("splits CRLF- and LF-terminated lines, skipping blank ones", () => {
    expect(splitQmp('{"QMP": {"version": {}}}\r\n{"return": {}}\n\r\n\n{"event": "STOP"}\r\n')).toEqual({
      messages: [{ QMP: { version: {} } }, { return: {} }, { event: "STOP" }],
      rest: "",
    });
    // the same stream fed one character at a time
    const text = '{"QMP": {"version": {}}}\r\n{"return": {}}\n\r\n\n{"event": "STOP"}\r\n';
    expect(feed([...text])).toEqual({ messages: [{ QMP: { version: {} } }, { return: {} }, { event: "STOP" }], rest: "" });
  });

  it("returns an incomplete last line as the rest, and parses it once its end arrives", () => {
    const first = splitQmp('{"return": 1}\r\n{"event": "ST');
    expect(first).toEqual({ messages: [{ return: 1 }], rest: '{"event": "ST' });
    expect(splitQmp(`${first.rest}OP"}\r\n`)).toEqual({ messages: [{ event: "STOP" }], rest: "" });
    // a CRLF cut between its CR and its LF
    const cr = splitQmp('{"return": 2}\r');
    expect(cr).toEqual({ messages: [], rest: '{"return": 2}\r' });
    expect(splitQmp(`${cr.rest}\n`)).toEqual({ messages: [{ return: 2 }], rest: "" });
    // nothing complete yet, even if it is not JSON: no verdict before the line ends
    expect(splitQmp("not json yet")).toEqual({ messages: [], rest: "not json yet" });
  });

  it("refuses a line that is not JSON with code engine", () => {
    expect(codeOf(() => splitQmp("SSH-2.0-OpenSSH_9.2\r\n"))).toBe("engine");
    expect(codeOf(() => splitQmp('{"return": {}}\r\n{"return": \r\n'))).toBe("engine");
    expect(() => splitQmp("hello\n")).toThrow(/QMP: expected a JSON object per line, got "hello"/);
  });

  it.each(["[]", '[{"return": {}}]', "1", '"text"', "null", "true"])("refuses the JSON non-object %s with code engine", (line) => {
    expect(codeOf(() => splitQmp(`${line}\r\n`))).toBe("engine");
    expect(() => splitQmp(`${line}\n`)).toThrow(/QMP: expected a JSON object/);
  });

  it("any split of a valid message stream into chunks yields the same messages (property)", () => {
    // QMP-like shapes and arbitrary objects (strings with escaped CR/LF, unicode, nesting).
    const message = fc.oneof(
      fc.record({ return: fc.jsonValue({ maxDepth: 2 }) }),
      fc.record({ error: fc.record({ class: fc.constantFrom("GenericError", "CommandNotFound"), desc: fc.string({ unit: "grapheme", maxLength: 30 }) }) }),
      fc.record({ event: fc.constantFrom("STOP", "RESUME", "SHUTDOWN"), data: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 1 })), timestamp: fc.record({ seconds: fc.nat(), microseconds: fc.nat(999999) }) }),
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 }),
    );
    const item = fc.record({ m: message, eol: fc.constantFrom("\n", "\r\n"), blank: fc.constantFrom("", "", "", "\n", "\r\n") });
    const stream = fc.array(item, { minLength: 0, maxLength: 200, size: "max" });
    const cuts = fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 400, size: "max" });
    const outcomes = { runs: 0, atLeast50: 0, atLeast150: 0, cutInsideMessage: 0, cutInsideCrlf: 0, chunkWithManyMessages: 0, singleChunk: 0 };
    fc.assert(
      fc.property(stream, cuts, (items, fractions) => {
        const lines = items.map((i) => JSON.stringify(i.m));
        const text = items.map((i, k) => `${i.blank}${lines[k]}${i.eol}`).join("");
        const at = [...new Set(fractions.map((f) => Math.floor(f * text.length)))].sort((a, b) => a - b);
        const chunks: string[] = [];
        let prev = 0;
        for (const p of [...at, text.length]) {
          chunks.push(text.slice(prev, p));
          prev = p;
        }
        const messages: Record<string, unknown>[] = [];
        let rest = "";
        let most = 0;
        for (const c of chunks) {
          const r = splitQmp(rest + c);
          messages.push(...r.messages);
          most = Math.max(most, r.messages.length);
          rest = r.rest;
        }
        expect(rest).toBe("");
        expect(messages.map((m) => JSON.stringify(m))).toEqual(lines);
        // What the run exercised.
        outcomes.runs++;
        if (items.length >= 50) outcomes.atLeast50++;
        if (items.length >= 150) outcomes.atLeast150++;
        if (chunks.filter((c) => c.length > 0).length <= 1) outcomes.singleChunk++;
        if (at.some((p) => p > 0 && p < text.length && text[p - 1] !== "\n")) outcomes.cutInsideMessage++;
        if (at.some((p) => text[p - 1] === "\r" && text[p] === "\n")) outcomes.cutInsideCrlf++;
        if (most >= 3) outcomes.chunkWithManyMessages++;
      }),
      { numRuns: 300 },
    );
    // The stream sizes and cuts reached what the property is about, not just a few short streams.
    expect(outcomes.runs).toBe(300);
    expect(outcomes.atLeast50).toBeGreaterThan(100);
    expect(outcomes.atLeast150).toBeGreaterThan(30);
    expect(outcomes.cutInsideMessage).toBeGreaterThan(150);
    expect(outcomes.cutInsideCrlf).toBeGreaterThan(20);
    expect(outcomes.chunkWithManyMessages).toBeGreaterThan(50);
    expect(outcomes.singleChunk).toBeGreaterThan(0);
  });
});

/** A fake QMP server on a unix socket in a private directory: the test plays QEMU on `peer`. */
interface Fake {
  readonly dir: string;
  readonly server: Server;
  /** The client's end (given to QmpClient). */
  readonly client: Socket;
  /** Our end. */
  readonly peer: Socket;
  /** The next line the client sent (without its LF). */
  nextLine(): Promise<string>;
  /** Whether the client end was closed (the peer saw the end of the stream). */
  readonly peerEnded: () => boolean;
}

const fakes: Fake[] = [];

async function fakeQmp(): Promise<Fake> {
  const dir = mkdtempSync(join(tmpdir(), "microvm-qmp-test-"));
  const path = join(dir, "qmp.sock");
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
  const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
  const client = connect(path);
  await new Promise<void>((resolve, reject) => {
    client.once("connect", () => resolve());
    client.once("error", reject);
  });
  const peer = await accepted;
  peer.setEncoding("utf8");
  let buffered = "";
  let ended = false;
  const waiters: (() => void)[] = [];
  peer.on("data", (t: string) => {
    buffered += t;
    for (const w of waiters.splice(0)) w();
  });
  peer.on("end", () => (ended = true));
  peer.on("error", () => undefined);
  const nextLine = async (): Promise<string> => {
    for (;;) {
      const nl = buffered.indexOf("\n");
      if (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        return line;
      }
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  const f: Fake = { dir, server, client, peer, nextLine, peerEnded: () => ended };
  fakes.push(f);
  return f;
}

const GREETING = '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}\r\n';

/** Greets, answers qmp_capabilities, and returns the open client. */
async function openClient(f: Fake, onEvent: (e: QmpEvent) => void = () => undefined): Promise<QmpClient> {
  const opening = QmpClient.open(f.client, onEvent);
  f.peer.write(GREETING);
  expect(JSON.parse(await f.nextLine())).toEqual({ execute: "qmp_capabilities" });
  f.peer.write('{"return": {}}\r\n');
  return opening;
}

/** Writes `text` one byte at a time, each in its own write, with a turn of the event loop between. */
async function dribble(socket: Socket, text: string): Promise<void> {
  for (const b of Buffer.from(text, "utf8")) {
    socket.write(Buffer.from([b]));
    await new Promise((r) => setTimeout(r, 0));
  }
}

afterEach(async () => {
  for (const f of fakes.splice(0)) {
    f.client.destroy();
    f.peer.destroy();
    await new Promise<void>((r) => f.server.close(() => r()));
    rmSync(f.dir, { recursive: true, force: true });
    expect(existsSync(f.dir)).toBe(false);
  }
});

describe("QmpClient against a fake QMP server", () => {
  it("waits for the greeting, sends qmp_capabilities, and opens only once it is answered", async () => {
    const f = await fakeQmp();
    let opened = false;
    const opening = QmpClient.open(f.client, () => undefined).then((c) => {
      opened = true;
      return c;
    });
    // the greeting in two pieces, the cut inside its CRLF
    f.peer.write(GREETING.slice(0, -1));
    await new Promise((r) => setTimeout(r, 20));
    expect(opened).toBe(false);
    f.peer.write("\n");
    expect(await f.nextLine()).toBe('{"execute":"qmp_capabilities"}');
    await new Promise((r) => setTimeout(r, 20));
    expect(opened, "open() resolved before qmp_capabilities was answered").toBe(false);
    f.peer.write('{"return": {}}\r\n');
    const c = await opening;
    expect(opened).toBe(true);
    // and the connection is in command mode: a command goes out and its answer comes back
    const status = c.execute("query-status");
    expect(JSON.parse(await f.nextLine())).toEqual({ execute: "query-status" });
    f.peer.write('{"return": {"status": "prelaunch", "running": false}}\r\n');
    expect(await status).toEqual({ status: "prelaunch", running: false });
  });

  it("refuses capabilities the server refuses, with code engine", async () => {
    const f = await fakeQmp();
    const opening = rejection(QmpClient.open(f.client, () => undefined));
    f.peer.write(GREETING);
    await f.nextLine();
    f.peer.write('{"error": {"class": "CommandNotFound", "desc": "nope"}}\r\n');
    const r = await opening;
    expect(r.code).toBe("engine");
    expect(r.message).toContain("qmp_capabilities");
    expect(r.message).toContain("CommandNotFound: nope");
  });

  it("answers commands in order: returns resolve, errors reject with class and description", async () => {
    const f = await fakeQmp();
    const c = await openClient(f);
    const a = c.execute("alpha");
    const b = rejection(c.execute("beta", { x: 1, s: "a,b" }));
    const g = c.execute("gamma");
    expect([JSON.parse(await f.nextLine()), JSON.parse(await f.nextLine()), JSON.parse(await f.nextLine())]).toEqual([
      { execute: "alpha" },
      { execute: "beta", arguments: { x: 1, s: "a,b" } },
      { execute: "gamma" },
    ]);
    // all three answers in one write
    f.peer.write('{"return": 1}\r\n{"error": {"class": "GenericError", "desc": "no beta here"}}\r\n{"return": "three"}\r\n');
    expect(await a).toBe(1);
    expect(await b).toEqual({ code: "engine", message: "QMP beta: GenericError: no beta here" });
    expect(await g).toBe("three");
    // an answer dribbled in byte by byte, with a multi-byte UTF-8 description cut inside its characters
    const d = rejection(c.execute("delta"));
    await f.nextLine();
    await dribble(f.peer, '{"error": {"class": "GenericError", "desc": "ünïcödé ✓"}}\n');
    expect(await d).toEqual({ code: "engine", message: "QMP delta: GenericError: ünïcödé ✓" });
  });

  it("delivers events to the listener, in order, while a command is pending", async () => {
    const f = await fakeQmp();
    const log: string[] = [];
    const events: QmpEvent[] = [];
    const c = await openClient(f, (e) => {
      events.push(e);
      log.push(`event ${e.event}`);
    });
    const pending = c.execute("query-status").then((v) => log.push(`return ${JSON.stringify(v)}`));
    await f.nextLine();
    f.peer.write('{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}\r\n');
    await dribble(f.peer, '{"timestamp": {"seconds": 3, "microseconds": 4}, "event": "SHUTDOWN", "data": {"guest": true, "reason": "guest-reset"}}\r\n');
    await vi.waitFor(() => expect(log.length).toBe(2));
    expect(log, "the events arrived while the command was still pending").toEqual(["event STOP", "event SHUTDOWN"]);
    f.peer.write('{"return": {"status": "shutdown"}}\r\n');
    await pending;
    expect(log).toEqual(["event STOP", "event SHUTDOWN", 'return {"status":"shutdown"}']);
    expect(events[1]).toEqual({ timestamp: { seconds: 3, microseconds: 4 }, event: "SHUTDOWN", data: { guest: true, reason: "guest-reset" } });
  });

  it("rejects every pending command, and later ones, when the connection closes", async () => {
    const f = await fakeQmp();
    const c = await openClient(f);
    const p1 = rejection(c.execute("one"));
    const p2 = rejection(c.execute("two"));
    await f.nextLine();
    await f.nextLine();
    f.peer.destroy();
    expect(await p1).toEqual({ code: "engine", message: "QMP: QEMU closed the connection" });
    expect(await p2).toEqual({ code: "engine", message: "QMP: QEMU closed the connection" });
    expect((await rejection(c.execute("three"))).code).toBe("engine");
  });

  it("rejects with code engine when the peer does not greet with {\"QMP\": …}", async () => {
    const f = await fakeQmp();
    const opening = rejection(QmpClient.open(f.client, () => undefined));
    f.peer.write('{"return": {}}\r\n');
    const r = await opening;
    expect(r.code).toBe("engine");
    expect(r.message).toMatch(/^QMP: expected a greeting, got \{"return":\{\}\}/);
  });

  it("rejects with code engine when the peer speaks another protocol, and drops the connection", async () => {
    const f = await fakeQmp();
    const opening = rejection(QmpClient.open(f.client, () => undefined));
    f.peer.write("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n");
    const r = await opening;
    expect(r.code).toBe("engine");
    expect(r.message).toContain("SSH-2.0");
    await new Promise((res) => setTimeout(res, 20));
    expect(f.client.destroyed).toBe(true);
  });

  it("rejects with code engine when the peer closes before greeting", async () => {
    const f = await fakeQmp();
    const opening = rejection(QmpClient.open(f.client, () => undefined));
    f.peer.end();
    expect(await opening).toEqual({ code: "engine", message: "QMP: QEMU closed the connection" });
  });
});
