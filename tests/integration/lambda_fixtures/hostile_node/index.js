// A hostile Node.js function: tries what a function must not be able to do and reports,
// per attempt, whether it worked (test_sandbox.py asserts none did).
const fs = require("fs");
const net = require("net");
const { spawnSync } = require("child_process");

function attempt(fn) {
  try {
    const got = fn();
    return { ok: true, got: String(got).slice(0, 200) };
  } catch (e) {
    return { ok: false, err: e.code || String(e).slice(0, 200) };
  }
}

function connect(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    const done = (r) => { s.destroy(); resolve(r); };
    s.setTimeout(2000, () => done({ ok: false, err: "ETIMEDOUT" }));
    s.on("connect", () => done({ ok: true, got: "connected" }));
    s.on("error", (e) => done({ ok: false, err: e.code }));
  });
}

exports.handler = async (event) => {
  const r = {};
  for (const [name, path] of Object.entries(event.read || {}))
    r["read_" + name] = attempt(() => fs.readFileSync(path).length);
  for (const [name, path] of Object.entries(event.write || {}))
    r["write_" + name] = attempt(() => { fs.writeFileSync(path, "x"); return true; });
  r.write_tmp = attempt(() => { fs.writeFileSync("/tmp/allowed", "x"); return true; });
  for (const [name, port] of Object.entries(event.connect || {}))
    r["connect_" + name] = await connect(port);
  const m = spawnSync("mount", ["-t", "tmpfs", "none", "/tmp"]);
  r.mount_cmd = m.status === 0 ? { ok: true, got: "mounted" } : { ok: false, err: String(m.stderr).slice(0, 200) };
  r.uid = process.getuid();
  return r;
};
