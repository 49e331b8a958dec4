// lambda.test.mjs - the AWS SDK for JavaScript v3 (@aws-sdk/client-lambda) against a real
// quarry: CreateFunction (zip built here with Info-ZIP's `zip`), GetFunction, Invoke
// (RequestResponse, Tail logs, DryRun, Event, a function error) and DeleteFunction, for a
// Python and a Node function. Expected values follow AWS (CodeSha256 = base64 SHA-256 of
// the zip, computed here). Run: node --test tests/integration/js/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  LambdaClient, CreateFunctionCommand, GetFunctionCommand, InvokeCommand, DeleteFunctionCommand,
  ListFunctionsCommand, waitUntilFunctionActiveV2,
} from '@aws-sdk/client-lambda';
import { startServer, stopServer, logTail, ACCESS_KEY, SECRET_KEY, REGION, createRoles, LAMBDA_ROLE } from './server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, '..', 'lambda_fixtures');
const ROLE = 'arn:aws:iam::123456789012:role/lambda-ex';
let srv;
let lambda;
let tmp;
const created = new Set();

function zipOf(name, files) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [n, src] of Object.entries(files)) fs.copyFileSync(src, path.join(dir, n));
  execFileSync('zip', ['-q', '-X', 'f.zip', ...Object.keys(files)], { cwd: dir });
  return fs.readFileSync(path.join(dir, 'f.zip'));
}

const sha256b64 = (b) => crypto.createHash('sha256').update(b).digest('base64');
const text = (u8) => Buffer.from(u8 ?? []).toString('utf8');
const unique = (base) => `${base}-${crypto.randomBytes(4).toString('hex')}`;

async function create(base, runtime, handler, zip) {
  const name = unique(base);
  const r = await lambda.send(new CreateFunctionCommand({
    FunctionName: name, Runtime: runtime, Role: ROLE, Handler: handler, Code: { ZipFile: zip },
  }));
  created.add(name);
  await waitUntilFunctionActiveV2({ client: lambda, maxWaitTime: 30, minDelay: 1, maxDelay: 1 },
    { FunctionName: name });
  return { name, r };
}

before(async () => {
  srv = await startServer();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quarry-js-lambda-'));
  lambda = new LambdaClient({
    endpoint: srv.endpoint, region: REGION, maxAttempts: 1,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
  });
  // The walkthrough's execution role: functions act as it, so it must exist and grant S3.
  await createRoles(srv, [LAMBDA_ROLE]);
});

after(async () => {
  if (lambda) {
    for (const n of created) {
      try { await lambda.send(new DeleteFunctionCommand({ FunctionName: n })); } catch { /* gone */ }
    }
    lambda.destroy();
  }
  if (srv) await stopServer(srv);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('python function: create, get, invoke, delete', async (t) => {
  const zip = zipOf('py', { 'lambda_function.py': path.join(fixtures, 'python', 'lambda_function.py') });
  try {
    const { name, r } = await create('jspy', 'python3.11', 'lambda_function.lambda_handler', zip);
    assert.equal(r.$metadata.httpStatusCode, 201);
    assert.equal(r.FunctionName, name);
    assert.equal(r.FunctionArn, `arn:aws:lambda:${REGION}:123456789012:function:${name}`);
    assert.equal(r.CodeSha256, sha256b64(zip));
    assert.equal(r.CodeSize, zip.length);
    assert.equal(r.Runtime, 'python3.11');

    const g = await lambda.send(new GetFunctionCommand({ FunctionName: name }));
    assert.equal(g.Configuration.State, 'Active');
    assert.equal(g.Configuration.CodeSha256, sha256b64(zip));
    assert.equal(g.Code.RepositoryType, 'S3');

    const l = await lambda.send(new ListFunctionsCommand({}));
    assert.ok(l.Functions.some((f) => f.FunctionName === name), 'ListFunctions');

    const inv = await lambda.send(new InvokeCommand({
      FunctionName: name, Payload: Buffer.from(JSON.stringify({ op: 'echo', js: true })),
    }));
    assert.equal(inv.StatusCode, 200);
    assert.equal(inv.FunctionError, undefined);
    assert.equal(inv.ExecutedVersion, '$LATEST');
    const p = JSON.parse(text(inv.Payload));
    assert.deepEqual(p.event, { op: 'echo', js: true });
    assert.equal(p.env.AWS_LAMBDA_FUNCTION_NAME, name);

    const tail = await lambda.send(new InvokeCommand({
      FunctionName: name, LogType: 'Tail',
      Payload: Buffer.from(JSON.stringify({ op: 'print', lines: ['js-tail-line'] })),
    }));
    const log = Buffer.from(tail.LogResult, 'base64').toString('utf8');
    for (const want of ['START RequestId: ', 'js-tail-line', 'END RequestId: ', 'REPORT RequestId: ']) {
      assert.ok(log.includes(want), `${want} missing from LogResult ${log}`);
    }

    const err = await lambda.send(new InvokeCommand({
      FunctionName: name, Payload: Buffer.from(JSON.stringify({ op: 'raise', message: 'js-boom' })),
    }));
    assert.equal(err.StatusCode, 200);
    assert.equal(err.FunctionError, 'Unhandled');
    const eb = JSON.parse(text(err.Payload));
    assert.equal(eb.errorType, 'ValueError');
    assert.equal(eb.errorMessage, 'js-boom');

    const dry = await lambda.send(new InvokeCommand({ FunctionName: name, InvocationType: 'DryRun' }));
    assert.equal(dry.StatusCode, 204);
    const ev = await lambda.send(new InvokeCommand({
      FunctionName: name, InvocationType: 'Event', Payload: Buffer.from('{"op":"echo"}'),
    }));
    assert.equal(ev.StatusCode, 202);

    const d = await lambda.send(new DeleteFunctionCommand({ FunctionName: name }));
    assert.ok([200, 204].includes(d.$metadata.httpStatusCode), `DeleteFunction ${d.$metadata.httpStatusCode}`);
    created.delete(name);
    await assert.rejects(
      lambda.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from('{}') })),
      (e) => e.name === 'ResourceNotFoundException' && e.$metadata.httpStatusCode === 404,
    );
    await assert.rejects(lambda.send(new GetFunctionCommand({ FunctionName: name })),
      (e) => e.name === 'ResourceNotFoundException');
  } catch (e) {
    t.diagnostic(`server log tail:\n${logTail(srv)}`);
    throw e;
  }
});

test('node function (CommonJS) through the JS SDK', async () => {
  const zip = zipOf('cjs', { 'index.js': path.join(fixtures, 'node_cjs', 'index.js') });
  const { name } = await create('jscjs', 'nodejs20.x', 'index.handler', zip);
  const inv = await lambda.send(new InvokeCommand({ FunctionName: name, Payload: Buffer.from('{}') }));
  assert.equal(inv.FunctionError, undefined, text(inv.Payload));
  const p = JSON.parse(text(inv.Payload));
  assert.equal(p.type, 'cjs');
  assert.equal(p.functionName, name);
  assert.equal(p.requestId, inv.$metadata.requestId);
});

test('errors: unknown runtime, duplicate name', async () => {
  const zip = zipOf('err', { 'lambda_function.py': path.join(fixtures, 'python', 'lambda_function.py') });
  await assert.rejects(
    lambda.send(new CreateFunctionCommand({
      FunctionName: unique('jsbad'), Runtime: 'python9.99', Role: ROLE,
      Handler: 'lambda_function.lambda_handler', Code: { ZipFile: zip },
    })),
    (e) => e.name === 'InvalidParameterValueException' && e.$metadata.httpStatusCode === 400
      && /python9\.99/.test(e.message),
  );
  const { name } = await create('jsdup', 'python3.11', 'lambda_function.lambda_handler', zip);
  await assert.rejects(
    lambda.send(new CreateFunctionCommand({
      FunctionName: name, Runtime: 'python3.11', Role: ROLE,
      Handler: 'lambda_function.lambda_handler', Code: { ZipFile: zip },
    })),
    (e) => e.name === 'ResourceConflictException' && e.$metadata.httpStatusCode === 409,
  );
});
