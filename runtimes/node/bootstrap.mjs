// quarry's Node.js runtime: a Lambda Runtime API client (2018-06-01) for nodejs20.x functions.
//
// The engine (src/fn) starts it as `node <this file>` in the function's code dir with
// AWS_LAMBDA_RUNTIME_API, _HANDLER, LAMBDA_TASK_ROOT, the AWS_* variables and NODE_PATH
// pointing at runtimes/node/node_modules (AWS SDK v3, importable unbundled). It loads the
// handler once (ESM or CommonJS), then loops: GET .../invocation/next (long poll), call
// handler(event, context[, callback]), POST .../response or .../error. Init failures go to
// /runtime/init/error and the process exits. Error bodies ({errorType, errorMessage, trace})
// and console line formats follow AWS's Node runtime, because clients and tests compare them.
//
// Invariant: at most one invocation is in flight; `current` is it. A completion (promise,
// callback, legacy context.succeed/fail/done, or an empty event loop) is accepted once.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import util from 'node:util';
import { pathToFileURL, fileURLToPath } from 'node:url';

const API_PREFIX = '/2018-06-01/runtime';
const SELF = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------
// Errors, shaped as AWS's Node runtime shapes them

class RuntimeError extends Error {
  constructor(type, message) {
    super(message);
    this.name = type; // e.g. Runtime.ImportModuleError: shows as the first trace line too
  }
}

function isError(e) {
  return util.types.isNativeError(e) ||
    (e !== null && typeof e === 'object' && typeof e.name === 'string' &&
     typeof e.message === 'string' && typeof e.stack === 'string');
}

// The body posted to /error and /init/error.
export function errorBody(e) {
  try {
    if (isError(e)) {
      return {
        errorType: String(e.name),
        errorMessage: String(e.message),
        trace: String(e.stack).split('\n'),
      };
    }
    return { errorType: typeof e, errorMessage: String(e), trace: [] };
  } catch {
    // A throwing getter or toString on a thrown object: AWS falls back to a fixed text.
    return {
      errorType: 'handled',
      errorMessage: 'callback called with Error argument, but there was a problem while ' +
        'retrieving one or more of its message, name, and stack',
    };
  }
}

// ---------------------------------------------------------------------------------------
// Handler resolution

// "dir/file.a.b" -> { moduleRoot: "dir/", module: "file", path: ["a","b"] }. Throws
// Runtime.MalformedHandlerName as AWS does.
export function parseHandler(full) {
  const base = path.basename(full);
  const moduleRoot = full.substring(0, full.length - base.length);
  const dot = base.indexOf('.');
  if (dot <= 0 || dot === base.length - 1) {
    throw new RuntimeError('Runtime.MalformedHandlerName', 'Bad handler');
  }
  if (full.includes('..')) {
    throw new RuntimeError('Runtime.MalformedHandlerName',
      "'../' not allowed in handler name. Relative paths are not supported.");
  }
  return { moduleRoot, module: base.substring(0, dot), path: base.substring(dot + 1).split('.') };
}

// The file a handler's module names, tried in AWS's order; null when none exists.
export function resolveModuleFile(taskRoot, moduleRoot, module) {
  const base = path.resolve(taskRoot, moduleRoot, module);
  for (const ext of ['.js', '.mjs', '.cjs']) {
    try {
      if (fs.statSync(base + ext).isFile()) return base + ext;
    } catch { /* try the next extension */ }
  }
  return null;
}

function isModuleNotFound(e) {
  return e && (e.code === 'MODULE_NOT_FOUND' || e.code === 'ERR_MODULE_NOT_FOUND');
}

// Imports the handler's module and returns the function. import() lets Node pick ESM or
// CommonJS from the extension and the nearest package.json "type", as require/import would.
export async function loadHandler(taskRoot, full) {
  const h = parseHandler(full);
  const file = resolveModuleFile(taskRoot, h.moduleRoot, h.module);
  let ns;
  try {
    if (file !== null) {
      ns = await import(pathToFileURL(file).href);
    } else {
      // Not in the task root: AWS falls back to Node's resolution (node_modules, NODE_PATH).
      const { createRequire } = await import('node:module');
      ns = createRequire(path.join(taskRoot, 'index.js'))(path.join(h.moduleRoot, h.module));
    }
  } catch (e) {
    if (file === null && isModuleNotFound(e)) {
      throw new RuntimeError('Runtime.ImportModuleError',
        `Error: Cannot find module '${h.module}'\nRequire stack:\n- ${SELF}`);
    }
    if (isModuleNotFound(e)) throw new RuntimeError('Runtime.ImportModuleError', String(e));
    if (e instanceof SyntaxError) throw new RuntimeError('Runtime.UserCodeSyntaxError', String(e));
    throw e; // thrown by the module's own top-level code: reported as is
  }
  // A CommonJS module whose exports the static analysis missed only has them on default.
  let obj = ns;
  if (ns && typeof ns === 'object' && !(h.path[0] in ns) && ns.default != null) obj = ns.default;
  for (const key of h.path) obj = obj == null ? undefined : obj[key];
  if (obj === undefined) {
    throw new RuntimeError('Runtime.HandlerNotFound', `${full} is undefined or not exported`);
  }
  if (typeof obj !== 'function') {
    throw new RuntimeError('Runtime.HandlerNotFound', `${full} is not a function`);
  }
  return obj;
}

// Whether ES module imports of the SDK need the NODE_PATH hook: not when a node_modules on
// the task root's parent chain (what ESM resolution walks) already has it.
export function needNodePathHook(taskRoot, nodePath) {
  if (!nodePath) return false;
  for (let dir = path.resolve(taskRoot); ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'node_modules', '@aws-sdk', 'client-s3', 'package.json'))) {
      return false;
    }
    if (path.dirname(dir) === dir) return true;
  }
}

async function registerNodePathHook(nodePath) {
  const { register } = await import('node:module');
  register('./esm-node-path.mjs', import.meta.url,
    { data: { dirs: nodePath.split(path.delimiter).filter((d) => d) } });
}

// ---------------------------------------------------------------------------------------
// Console: AWS prefixes every line "<ISO time>\t<request id>\t<LEVEL>\t".

let currentRequestId; // undefined during init: AWS prints "undefined" there too

function patchConsole() {
  const write = (level) => (...args) => {
    process.stdout.write(`${new Date().toISOString()}\t${currentRequestId}\t${level}\t` +
      `${util.format(...args)}\n`);
  };
  console.log = write('INFO');
  console.info = write('INFO');
  console.warn = write('WARN');
  console.error = write('ERROR');
  console.debug = write('DEBUG');
  console.trace = (...args) => {
    const e = { name: 'Trace', message: util.format(...args) };
    Error.captureStackTrace(e, console.trace);
    write('TRACE')(e.stack);
  };
}

function logError(what, body) {
  console.error(what, '\t' + JSON.stringify({
    errorType: body.errorType, errorMessage: body.errorMessage, stack: body.trace,
  }));
}

// ---------------------------------------------------------------------------------------
// Runtime API client: one keep-alive connection (the Agent reuses a single socket).

export function parseAddress(s) {
  const i = s.lastIndexOf(':');
  const port = Number(s.substring(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`bad AWS_LAMBDA_RUNTIME_API '${s}'`);
  }
  return { host: s.substring(0, i).replace(/^\[(.*)\]$/, '$1'), port };
}

class RuntimeClient {
  constructor(address) {
    const { host, port } = parseAddress(address);
    this.host = host;
    this.port = port;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  }

  request(method, p, body, headers) {
    return new Promise((resolve, reject) => {
      const h = { ...headers };
      if (body !== undefined) h['Content-Length'] = Buffer.byteLength(body);
      const req = http.request({
        host: this.host, port: this.port, method, path: p, agent: this.agent, headers: h,
      }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
          body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.setNoDelay(true);
      req.end(body);
    });
  }

  async nextInvocation() {
    const r = await this.request('GET', `${API_PREFIX}/invocation/next`);
    if (r.status !== 200) throw new Error(`/next returned ${r.status}: ${r.body}`);
    if (!r.headers['lambda-runtime-aws-request-id']) {
      throw new Error('/next response without Lambda-Runtime-Aws-Request-Id');
    }
    return r;
  }

  async post(p, body, headers) {
    const r = await this.request('POST', p, body, { 'Content-Type': 'application/json', ...headers });
    if (r.status !== 202) throw new Error(`POST ${p} returned ${r.status}: ${r.body}`);
  }

  postResponse(id, body) {
    return this.post(`${API_PREFIX}/invocation/${encodeURIComponent(id)}/response`, body, {});
  }

  postError(id, errBody) {
    return this.post(`${API_PREFIX}/invocation/${encodeURIComponent(id)}/error`,
      JSON.stringify(errBody), { 'Lambda-Runtime-Function-Error-Type': 'Unhandled' });
  }

  postInitError(errBody) {
    return this.post(`${API_PREFIX}/init/error`, JSON.stringify(errBody),
      { 'Lambda-Runtime-Function-Error-Type': errBody.errorType });
  }
}

// ---------------------------------------------------------------------------------------
// Context

function parseJsonHeader(v) {
  if (v === undefined || v === '') return undefined;
  return JSON.parse(v);
}

export function makeContext(headers, env, complete) {
  const deadline = Number(headers['lambda-runtime-deadline-ms']) || 0;
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
    awsRequestId: headers['lambda-runtime-aws-request-id'],
    tenantId: headers['lambda-runtime-aws-tenant-id'],
    clientContext: parseJsonHeader(headers['lambda-runtime-client-context']),
    identity: parseJsonHeader(headers['lambda-runtime-cognito-identity']),
    getRemainingTimeInMillis() { return deadline - Date.now(); },
    // Legacy completion methods, still honoured by AWS's Node 20 runtime.
    succeed(result) { complete(null, result, false); },
    fail(err) { complete(err === undefined || err === null ? 'handled' : err, undefined, false); },
    done(err, result) { complete(err, result, false); },
  };
}

// ---------------------------------------------------------------------------------------
// Main loop

async function main() {
  const env = process.env;
  const taskRoot = env.LAMBDA_TASK_ROOT || process.cwd();
  let client;
  try {
    client = new RuntimeClient(env.AWS_LAMBDA_RUNTIME_API || '127.0.0.1:9001');
  } catch (e) {
    process.stderr.write(`quarry runtime: ${e.message}\n`);
    process.exit(1);
  }
  const fatal = (e) => {
    process.stderr.write(`quarry runtime: ${e && e.message}\n`);
    process.exit(1);
  };
  patchConsole();

  if (needNodePathHook(taskRoot, env.NODE_PATH)) await registerNodePathHook(env.NODE_PATH);

  let handler;
  try {
    handler = await loadHandler(taskRoot, env._HANDLER || '');
  } catch (e) {
    const body = errorBody(e);
    logError('Uncaught Exception', body);
    await client.postInitError(body).catch(() => {});
    process.exit(129);
  }

  let current = null; // { id, done, viaCallback }

  // Unhandled errors in user code while an invocation runs fail that invocation; the
  // process then exits (AWS: 129 uncaught exception, 128 unhandled rejection).
  const failAndExit = (e, code, what) => {
    const body = errorBody(e);
    logError(what, body);
    const p = current && !current.done
      ? client.postError(current.id, body)
      : client.postInitError(body);
    if (current) current.done = true;
    p.catch(() => {}).finally(() => process.exit(code));
  };
  process.on('uncaughtException', (e) => failAndExit(e, 129, 'Uncaught Exception'));
  process.on('unhandledRejection', (reason) => {
    const msg = isError(reason) ? `${reason.name}: ${reason.message}` : String(reason);
    failAndExit(new RuntimeError('Runtime.UnhandledPromiseRejection', msg), 128,
      'Unhandled Promise Rejection');
  });

  const runOne = async () => {
    let r;
    try {
      r = await client.nextInvocation();
    } catch (e) {
      fatal(e);
    }
    const id = r.headers['lambda-runtime-aws-request-id'];
    const inv = { id, done: false };
    current = inv;
    currentRequestId = id;
    const trace = r.headers['lambda-runtime-trace-id'];
    if (trace) env._X_AMZN_TRACE_ID = trace; else delete env._X_AMZN_TRACE_ID;

    // Posts the outcome once, then polls for the next invocation.
    const finish = (err, result) => {
      let send;
      if (err !== null && err !== undefined) {
        const body = errorBody(err);
        logError('Invoke Error', body);
        send = () => client.postError(id, body);
      } else {
        let text;
        try {
          text = JSON.stringify(result === undefined ? null : result);
        } catch {
          const body = errorBody(new Error('Unable to stringify response body'));
          logError('Invoke Error', body);
          send = () => client.postError(id, body);
        }
        if (send === undefined) send = () => client.postResponse(id, text);
      }
      send().then(() => { current = null; setImmediate(runOne); }, fatal);
    };

    let context;
    const complete = (err, result, viaCallback) => {
      if (inv.done) return;
      inv.done = true;
      if (viaCallback && context.callbackWaitsForEmptyEventLoop) {
        // AWS posts a callback's result only once the event loop has drained.
        process.once('beforeExit', () => finish(err, result));
      } else {
        finish(err, result);
      }
    };
    // A handler that neither returns a promise nor calls back completes with null when
    // the event loop empties, as on AWS.
    const onEmpty = () => { if (!inv.done) complete(null, null, false); };
    process.once('beforeExit', onEmpty);
    const off = () => process.removeListener('beforeExit', onEmpty);

    try {
      context = makeContext(r.headers, env, (e, res, cb) => { off(); complete(e, res, cb); });
      let event;
      try {
        event = JSON.parse(r.body.toString('utf8'));
      } catch (e) {
        throw new RuntimeError('Runtime.UnmarshalError', `Unable to parse event: ${e.message}`);
      }
      const callback = (e, res) => { off(); complete(e, res, true); };
      const ret = handler(event, context, callback);
      if (ret && typeof ret.then === 'function') {
        ret.then((res) => { off(); complete(null, res, false); },
          (e) => { off(); complete(e === undefined || e === null ? new Error(String(e)) : e,
            undefined, false); });
      }
    } catch (e) {
      off();
      complete(e, undefined, false);
    }
  };
  runOne();
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF) main();
