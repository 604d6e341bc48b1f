// Unix sockets with fds attached (node/unix-socket.ts), the transport of vhost-user: bytes and
// SCM_RIGHTS fds cross together, a received fd is the same open file, a peer that closes is an
// end of stream, and more fds than the receiver takes is an error rather than a silent loss.
import { closeSync, fstatSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FdSocket, MAX_FDS, UnixListener, connectUnix } from "../src/node/unix-socket.js";
import { isMicrovmError } from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "microvm-unix-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

function pair(): { a: FdSocket; b: FdSocket; l: UnixListener } {
  const l = UnixListener.listen(join(dir, `s${n++}.sock`));
  expect(l.accept()).toBeUndefined(); // nothing pending yet
  const a = new FdSocket(connectUnix(l.path));
  const fd = l.accept();
  expect(fd).toBeDefined();
  return { a, b: new FdSocket(fd as number), l };
}

describe("unix sockets with fds", () => {
  it("listening where a killed back-end left its socket replaces it; a live listener or a file there is refused", () => {
    const path = join(dir, "restart.sock");
    const dead = UnixListener.listen(path);
    closeSync(dead.fd); // as SIGKILL leaves it: the socket file stays, nobody listens
    const again = UnixListener.listen(path); // replaced
    const a = connectUnix(path);
    expect(again.accept()).toBeDefined();
    closeSync(a);
    // Negative controls: a live listener at the path is not taken over, nor is a plain file.
    const live = (() => {
      try {
        UnixListener.listen(path);
        return "listened";
      } catch (e) {
        return isMicrovmError(e) ? e.message : String(e);
      }
    })();
    expect(live).toMatch(/another process is listening there/);
    again.close();
    const file = join(dir, "not-a-socket");
    writeFileSync(file, "keep me");
    expect(() => UnixListener.listen(file)).toThrow(/bind .*not-a-socket \(the path exists and is not a socket\)/);
    expect(readdirSync(dir)).toContain("not-a-socket");
  });

  it("bytes and fds cross together; each received fd is the sender's open file", () => {
    const { a, b, l } = pair();
    const files = [0, 1, 2].map((i) => {
      const p = join(dir, `f${i}`);
      writeFileSync(p, `file ${i}`);
      return openSync(p, "r");
    });
    a.send(new Uint8Array([1, 2, 3, 4]), files);
    const m = b.receive(64, true);
    expect(m).not.toBe("again");
    if (typeof m === "string") return;
    expect([...m.bytes]).toEqual([1, 2, 3, 4]);
    expect(m.fds).toHaveLength(3);
    m.fds.forEach((fd, i) => expect(fstatSync(fd).ino).toBe(fstatSync(files[i] as number).ino));
    for (const f of [...files, ...m.fds]) closeSync(f);
    // nothing more: "again" without waiting; a closed peer: "eof"
    expect(b.receive(64)).toBe("again");
    a.send(new Uint8Array(100).fill(7));
    expect(b.receive(12, true)).toMatchObject({ bytes: new Uint8Array(12).fill(7), fds: [] });
    expect(b.readExactly(88)).toEqual(new Uint8Array(88).fill(7));
    a.close();
    expect(b.receive(64, true)).toBe("eof");
    b.close();
    l.close();
  });

  it("more fds than the receiver takes: an error naming the limit, and none of them leak", () => {
    const { a, b, l } = pair();
    const p = join(dir, "many");
    writeFileSync(p, "x");
    const f = openSync(p, "r");
    const open = (): number => readdirSync("/proc/self/fd").length;
    a.send(new Uint8Array([9]), Array.from({ length: MAX_FDS }, () => f));
    const ok = b.receive(8, true);
    expect(typeof ok === "object" && ok.fds.length).toBe(MAX_FDS); // the limit itself is accepted
    if (typeof ok === "object") for (const x of ok.fds) closeSync(x);
    const before = open();
    a.send(new Uint8Array([9]), Array.from({ length: MAX_FDS + 1 }, () => f));
    let err: unknown;
    try {
      b.receive(8, true);
    } catch (e) {
      err = e;
    }
    expect(isMicrovmError(err) && err.message).toMatch(new RegExp(`more than ${MAX_FDS} file descriptors`));
    expect(open()).toBe(before); // what did arrive was closed again
    closeSync(f);
    a.close();
    b.close();
    l.close();
    // a path that exists cannot be listened on again; the error names it
    const taken = join(dir, "taken");
    writeFileSync(taken, "");
    try {
      UnixListener.listen(taken);
      expect.unreachable();
    } catch (e) {
      expect(isMicrovmError(e) && e.message).toMatch(/^bind .*taken \(the path exists and is not a socket\): /);
    }
  });
});
