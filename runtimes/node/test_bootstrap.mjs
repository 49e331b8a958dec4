// Unit tests of bootstrap.mjs's pure pieces: handler strings, module resolution and loading
// of real ESM/CommonJS files in a temporary dir, error bodies, the context object, address
// parsing. Run: node --test runtimes/node/test_bootstrap.mjs. The Runtime API loop is tested
// through quarry's engine (tests/integration), never against a stand-in server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  parseHandler, resolveModuleFile, loadHandler, errorBody, makeContext, parseAddress,
  needNodePathHook,
} from './bootstrap.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'qrt-node-'));
const put = (rel, text) => {
  fs.mkdirSync(path.dirname(path.join(tmp, rel)), { recursive: true });
  fs.writeFileSync(path.join(tmp, rel), text);
};

async function loadError(handler) {
  try {
    await loadHandler(tmp, handler);
  } catch (e) {
    return [e.name, e.message];
  }
  throw new Error('no error');
}

test('parseHandler', () => {
  assert.deepEqual(parseHandler('index.handler'), { moduleRoot: '', module: 'index', path: ['handler'] });
  assert.deepEqual(parseHandler('src/app.a.b'), { moduleRoot: 'src/', module: 'app', path: ['a', 'b'] });
  assert.throws(() => parseHandler('nodot'), { name: 'Runtime.MalformedHandlerName', message: 'Bad handler' });
  assert.throws(() => parseHandler('../x.handler'), {
    name: 'Runtime.MalformedHandlerName',
    message: "'../' not allowed in handler name. Relative paths are not supported.",
  });
});

test('ESM, CommonJS, type:module, .cjs, nested', async () => {
  put('esm.mjs', 'export const handler = async (e) => ["esm", e];');
  put('cjs.js', 'exports.handler = (e, c, cb) => cb(null, "cjs");');
  put('dyn.js', 'const n = "handler"; module.exports[n] = () => "dyn";');
  put('mod/package.json', '{"type":"module"}');
  put('mod/app.js', 'export const h = { inner: () => "typed" };');
  put('old.cjs', 'module.exports = { handler: () => "cjs2" };');
  assert.deepEqual(await (await loadHandler(tmp, 'esm.handler'))(1), ['esm', 1]);
  let got;
  (await loadHandler(tmp, 'cjs.handler'))({}, {}, (e, r) => { got = r; });
  assert.equal(got, 'cjs');
  assert.equal((await loadHandler(tmp, 'dyn.handler'))(), 'dyn');
  assert.equal((await loadHandler(tmp, 'mod/app.h.inner'))(), 'typed');
  assert.equal((await loadHandler(tmp, 'old.handler'))(), 'cjs2');
  assert.equal(resolveModuleFile(tmp, '', 'esm'), path.join(tmp, 'esm.mjs'));
  assert.equal(resolveModuleFile(tmp, '', 'none'), null);
});

test('init errors', async () => {
  put('nofn.mjs', 'export const x = 1;');
  put('syntax.mjs', 'export const = ;');
  put('dep.mjs', 'import "qrt-not-installed";');
  put('throws.js', 'throw new RangeError("top");');
  assert.deepEqual(await loadError('nofn.handler'),
    ['Runtime.HandlerNotFound', 'nofn.handler is undefined or not exported']);
  assert.deepEqual(await loadError('nofn.x'), ['Runtime.HandlerNotFound', 'nofn.x is not a function']);
  const [t1, m1] = await loadError('missing.handler');
  assert.equal(t1, 'Runtime.ImportModuleError');
  assert.match(m1, /^Error: Cannot find module 'missing'\nRequire stack:\n- /);
  const [t2, m2] = await loadError('syntax.handler');
  assert.equal(t2, 'Runtime.UserCodeSyntaxError');
  assert.match(m2, /^SyntaxError: /);
  const [t3, m3] = await loadError('dep.handler');
  assert.equal(t3, 'Runtime.ImportModuleError');
  assert.match(m3, /^Error \[ERR_MODULE_NOT_FOUND\]: Cannot find package 'qrt-not-installed' imported from /);
  assert.deepEqual(await loadError('throws.handler'), ['RangeError', 'top']);
});

test('errorBody', () => {
  const e = new TypeError('bad');
  assert.deepEqual(errorBody(e), { errorType: 'TypeError', errorMessage: 'bad', trace: e.stack.split('\n') });
  assert.equal(errorBody(e).trace[0], 'TypeError: bad');
  assert.deepEqual(errorBody('plain'), { errorType: 'string', errorMessage: 'plain', trace: [] });
  assert.deepEqual(errorBody({ toString() { return 'obj'; } }), { errorType: 'object', errorMessage: 'obj', trace: [] });
  const evil = { get name() { throw new Error('x'); }, message: 'm', stack: 's' };
  assert.equal(errorBody(evil).errorType, 'handled');
});

test('makeContext', () => {
  const env = {
    AWS_LAMBDA_FUNCTION_NAME: 'f', AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128', AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/f',
    AWS_LAMBDA_LOG_STREAM_NAME: 's',
  };
  const c = makeContext({
    'lambda-runtime-aws-request-id': 'rid',
    'lambda-runtime-deadline-ms': String(Date.now() + 3000),
    'lambda-runtime-invoked-function-arn': 'arn:aws:lambda:us-east-1:123456789012:function:f',
    'lambda-runtime-client-context': '{"custom":{"a":1}}',
  }, env, () => {});
  assert.equal(c.awsRequestId, 'rid');
  assert.equal(c.functionName, 'f');
  assert.equal(c.functionVersion, '$LATEST');
  assert.equal(c.memoryLimitInMB, '128');
  assert.equal(c.logGroupName, '/aws/lambda/f');
  assert.equal(c.callbackWaitsForEmptyEventLoop, true);
  assert.deepEqual(c.clientContext, { custom: { a: 1 } });
  assert.equal(c.identity, undefined);
  const left = c.getRemainingTimeInMillis();
  assert.ok(left > 2000 && left <= 3000, String(left));
});

test('parseAddress and needNodePathHook', () => {
  assert.deepEqual(parseAddress('127.0.0.1:9001'), { host: '127.0.0.1', port: 9001 });
  assert.deepEqual(parseAddress('[::1]:80'), { host: '::1', port: 80 });
  assert.throws(() => parseAddress('127.0.0.1'));
  assert.throws(() => parseAddress('h:70000'));
  assert.equal(needNodePathHook(tmp, ''), false);
  assert.equal(needNodePathHook(tmp, '/x/node_modules'), true);
  put('code/x.js', '');
  fs.mkdirSync(path.join(tmp, 'node_modules/@aws-sdk/client-s3'), { recursive: true });
  fs.writeFileSync(path.join(tmp, 'node_modules/@aws-sdk/client-s3/package.json'), '{}');
  assert.equal(needNodePathHook(path.join(tmp, 'code'), '/x/node_modules'), false);
});
