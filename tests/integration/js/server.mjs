// server.mjs - starts the real quarry binary for the JS SDK tests and always stops it.
// Same contract as ../quarry_server.py: `$BUILD/quarry serve --port 0` on a mkdtemp data dir,
// wait (10 s deadline, reading stdout) for `quarry listening on http://127.0.0.1:PORT`,
// stop by PID (its own process group) on stop(), on process exit and on SIGINT/SIGTERM.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { IAMClient, CreateRoleCommand, PutRolePolicyCommand } from '@aws-sdk/client-iam';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..', '..');
const live = new Set();

function killAll() {
  for (const s of live) {
    try { process.kill(-s.proc.pid, 'SIGKILL'); } catch { /* gone */ }
    try { fs.rmSync(s.root, { recursive: true, force: true }); } catch { /* ignore */ }
  }
  live.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { killAll(); process.exit(128 + os.constants.signals[sig]); });
}

export const ACCESS_KEY = 'quarry';
export const SECRET_KEY = 'quarry-secret-key';
export const REGION = 'us-east-1';

// TLS mode (QUARRY_TEST_TLS=1, tests/run-all.sh's second pass): the server also serves HTTPS
// with the certificate run-all made (QUARRY_TEST_TLS_CERT/KEY; node trusts it through
// NODE_EXTRA_CA_CERTS, read at start), and `endpoint` / `controlEndpoint` name that port;
// `plainEndpoint` is always the plain HTTP listener.
const TLS = process.env.QUARRY_TEST_TLS === '1';

function tlsArgs(extraArgs) {
  if (!TLS || extraArgs.includes('--tls-cert')) return [];
  const cert = process.env.QUARRY_TEST_TLS_CERT;
  const key = process.env.QUARRY_TEST_TLS_KEY;
  if (!cert || !key || process.env.NODE_EXTRA_CA_CERTS !== cert) {
    throw new Error('QUARRY_TEST_TLS=1 needs QUARRY_TEST_TLS_CERT, QUARRY_TEST_TLS_KEY and ' +
      'NODE_EXTRA_CA_CERTS (the same certificate) set before node starts: see tests/run-all.sh');
  }
  return ['--tls-cert', cert, '--tls-key', key, '--tls-port', '0'];
}

export async function startServer(extraArgs = []) {
  let build = process.env.BUILD || 'build';
  if (!path.isAbsolute(build)) build = path.join(repo, build);
  const exe = path.join(build, 'quarry');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'quarry-js-'));
  const data = path.join(root, 'data');
  fs.mkdirSync(data);
  const env = { ...process.env };
  delete env.QUARRY_ROOT_ACCESS_KEY;
  delete env.QUARRY_ROOT_SECRET_KEY;
  const log = fs.openSync(path.join(root, 'server.log'), 'a');
  const proc = spawn(exe, ['serve', '--address', '127.0.0.1', '--port', '0', '--data', data, '--no-fsync', ...extraArgs, ...tlsArgs(extraArgs)],
    { stdio: ['ignore', 'pipe', log], env, detached: true });
  fs.closeSync(log);
  const s = { proc, root, data, endpoint: null };
  live.add(s);
  s.endpoint = await new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no listening line within 10 s: ${buf}`)), 10000);
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${buf}`)); });
    proc.stdout.on('data', (chunk) => {
      buf += chunk.toString();
      const m = buf.match(/^quarry listening on (http:\/\/127\.0\.0\.1:\d+)\s*$/m);
      const t = buf.match(/^quarry listening on (https:\/\/127\.0\.0\.1:\d+)\s*$/m);
      const tls = tlsArgs(extraArgs).length > 0;
      if (m && (t || !tls)) { clearTimeout(timer); s.plainEndpoint = m[1]; resolve((tls ? t : m)[1]); }
    });
  }).catch((e) => { stopServer(s); throw e; });
  proc.removeAllListeners('exit');
  // S3 Control: a host name, since its clients send to ACCOUNT.<host>
  const u = new URL(s.endpoint);
  s.controlEndpoint = `${u.protocol}//localhost:${u.port}`;
  proc.stdout.on('data', () => {}); // keep draining
  return s;
}

export function logTail(s, n = 20) {
  try {
    return fs.readFileSync(path.join(s.root, 'server.log'), 'utf8').split('\n').slice(-n).join('\n');
  } catch { return ''; }
}

export async function stopServer(s) {
  if (!live.has(s)) return;
  live.delete(s);
  const exited = new Promise((r) => s.proc.once('exit', r));
  try { process.kill(-s.proc.pid, 'SIGTERM'); } catch { /* gone */ }
  const t = setTimeout(() => { try { process.kill(-s.proc.pid, 'SIGKILL'); } catch { /* gone */ } }, 10000);
  if (s.proc.exitCode === null && s.proc.signalCode === null) await exited;
  clearTimeout(t);
  fs.rmSync(s.root, { recursive: true, force: true });
}

// Creates roles the way the walkthrough does: each trusted by one service principal and
// allowed `actions` on everything. Functions and jobs act as their role, so it must exist.
// roles: [[name, service, actions], ...].
export async function createRoles(s, roles) {
  const iam = new IAMClient({ endpoint: s.endpoint, region: REGION, maxAttempts: 1,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY } });
  try {
    for (const [name, service, actions] of roles) {
      await iam.send(new CreateRoleCommand({
        RoleName: name,
        AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{
          Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }] }),
      }));
      await iam.send(new PutRolePolicyCommand({
        RoleName: name, PolicyName: 'quarry-tests',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{
          Effect: 'Allow', Action: actions, Resource: '*' }] }),
      }));
    }
  } finally {
    iam.destroy();
  }
}

export const LAMBDA_ROLE = ['lambda-ex', 'lambda.amazonaws.com', ['s3:*', 's3express:*', 'logs:*']];
export const BATCH_ROLE = ['batch-ops', 'batchoperations.s3.amazonaws.com',
  ['s3:*', 's3express:*', 'lambda:InvokeFunction']];

// A client of `srv` for an SDK client class: no retries (a retried error would hide what
// the server said), path-style S3.
export function clientOf(srv, Cls, credentials, extra = {}) {
  return new Cls({
    endpoint: srv.endpoint, region: REGION, maxAttempts: 1, credentials, forcePathStyle: true, ...extra,
  });
}

// The error a promise must reject with, by its name (the service's error code).
export async function rejectsWith(promise, name) {
  try {
    await promise;
  } catch (e) {
    assert.equal(e.name, name, `${e.name}: ${e.message}`);
    return e;
  }
  assert.fail(`expected ${name}, the call succeeded`);
}
