// iam_roles.test.mjs - the rest of the IAM issue's list with the AWS SDK for JavaScript v3
// (@aws-sdk/client-iam, client-sts, client-s3, client-lambda, client-s3-control,
// s3-request-presigner) against a real quarry: a function whose role cannot write the
// destination (its copy is AccessDenied, which the walkthrough's function reports as
// PermanentFailure in the job's report); a job whose role lacks lambda:InvokeFunction; a
// presigned URL of a user whose key is then deactivated; expired session credentials; a
// bucket policy denying one prefix; malformed policy documents, each refused with its
// reason and nothing stored.
// Run: node --test tests/integration/js/iam_roles.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  IAMClient, CreateRoleCommand, PutRolePolicyCommand, CreateUserCommand, CreateAccessKeyCommand,
  AttachUserPolicyCommand, UpdateAccessKeyCommand, ListRolePoliciesCommand, CreatePolicyCommand,
  ListPoliciesCommand,
} from '@aws-sdk/client-iam';
import { STSClient, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import {
  S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand, ListObjectsV2Command,
  PutBucketPolicyCommand, DeleteBucketPolicyCommand, DeleteObjectCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { LambdaClient, CreateFunctionCommand, waitUntilFunctionActiveV2 } from '@aws-sdk/client-lambda';
import { S3ControlClient, CreateJobCommand, DescribeJobCommand } from '@aws-sdk/client-s3-control';
import {
  startServer, stopServer, logTail, clientOf, rejectsWith, ACCESS_KEY, SECRET_KEY, REGION,
} from './server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const WALKTHROUGH_FN = path.resolve(here, '..', 'lambda_fixtures', 'batch_walkthrough',
  'lambda_function.py');
const ACCOUNT = '123456789012';
const root = { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY };
const trust = (service) => JSON.stringify({ Version: '2012-10-17', Statement: [{
  Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }] });
const policy = (statements) => JSON.stringify({ Version: '2012-10-17', Statement: statements });
const allow = (Action, Resource) => ({ Effect: 'Allow', Action, Resource });
const unique = (base) => `${base}-${crypto.randomBytes(4).toString('hex')}`;
const text = async (r) => Buffer.from(await r.Body.transformToByteArray()).toString('utf8');
let srv, iam, s3, lambda, ctl, tmp;

const client = (Cls, credentials, extra = {}) => clientOf(srv, Cls, credentials, extra);

before(async () => {
  srv = await startServer();
  iam = client(IAMClient, root);
  s3 = client(S3Client, root);
  lambda = client(LambdaClient, root);
  ctl = new S3ControlClient({ endpoint: srv.controlEndpoint,
    region: REGION, maxAttempts: 1, credentials: root });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quarry-js-iam-'));
});

after(async () => {
  for (const c of [iam, s3, lambda, ctl]) if (c) c.destroy();
  if (srv) {
    if (process.exitCode) console.error(logTail(srv));
    await stopServer(srv);
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function bucket(prefix) {
  const b = unique(prefix);
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  return b;
}

async function role(name, service, statements) {
  await iam.send(new CreateRoleCommand({ RoleName: name, AssumeRolePolicyDocument: trust(service) }));
  if (statements.length) {
    await iam.send(new PutRolePolicyCommand({ RoleName: name, PolicyName: 'p',
      PolicyDocument: policy(statements) }));
  }
  return `arn:aws:iam::${ACCOUNT}:role/${name}`;
}

async function user(managed) {
  const name = unique('jsu');
  await iam.send(new CreateUserCommand({ UserName: name }));
  await iam.send(new AttachUserPolicyCommand({ UserName: name, PolicyArn: managed }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey;
  return { name, creds: { accessKeyId: k.AccessKeyId, secretAccessKey: k.SecretAccessKey } };
}

// AWS's walkthrough function, running as roleArn.
async function walkthroughFunction(roleArn) {
  const dir = fs.mkdtempSync(path.join(tmp, 'fn-'));
  fs.copyFileSync(WALKTHROUGH_FN, path.join(dir, 'lambda_function.py'));
  execFileSync('zip', ['-q', '-X', 'f.zip', 'lambda_function.py'], { cwd: dir });
  const name = unique('s3batchops-function');
  const fn = await lambda.send(new CreateFunctionCommand({
    FunctionName: name, Runtime: 'python3.11', Role: roleArn, Timeout: 30,
    Handler: 'lambda_function.lambda_handler', Code: { ZipFile: fs.readFileSync(path.join(dir, 'f.zip')) },
  }));
  await waitUntilFunctionActiveV2({ client: lambda, maxWaitTime: 30, minDelay: 1, maxDelay: 1 },
    { FunctionName: name });
  return { name, arn: fn.FunctionArn };
}

// A LambdaInvoke job of the walkthrough over src/photo.jpg, run as jobRole, to its end.
async function runJob(src, dst, fnArn, jobRoleFor) {
  const [man, rep] = [await bucket('jsman'), await bucket('jsrep')];
  const put = await s3.send(new PutObjectCommand({ Bucket: man, Key: 'm.csv', Body: `${src},photo.jpg\n` }));
  const jobRole = await jobRoleFor(man, rep);
  const { JobId } = await ctl.send(new CreateJobCommand({
    AccountId: ACCOUNT, ConfirmationRequired: false, Priority: 10, RoleArn: jobRole,
    ClientRequestToken: crypto.randomUUID(),
    Operation: { LambdaInvoke: { FunctionArn: fnArn, InvocationSchemaVersion: '2.0',
      UserArguments: { MyDestinationBucket: dst, MyDestinationBucketRegion: REGION,
        MyDestinationPrefix: 'copied/', MyDestinationObjectKeySuffix: '_new' } } },
    Manifest: { Spec: { Format: 'S3BatchOperations_CSV_20180820', Fields: ['Bucket', 'Key'] },
      Location: { ObjectArn: `arn:aws:s3:::${man}/m.csv`, ETag: put.ETag } },
    Report: { Bucket: `arn:aws:s3:::${rep}`, Format: 'Report_CSV_20180820', Enabled: true,
      Prefix: 'r', ReportScope: 'AllTasks' },
  }));
  const end = Date.now() + 120000;
  let job;
  for (;;) {
    ({ Job: job } = await ctl.send(new DescribeJobCommand({ AccountId: ACCOUNT, JobId })));
    if (['Complete', 'Failed', 'Cancelled'].includes(job.Status)) break;
    if (Date.now() > end) throw new Error(`job ${JobId} still ${job.Status}`);
    await new Promise((r) => setTimeout(r, 50)); // polling the job's state, with a deadline
  }
  const m = JSON.parse(await text(await s3.send(new GetObjectCommand({ Bucket: rep,
    Key: `r/job-${JobId}/manifest.json` }))));
  const failed = [];
  for (const r of m.Results.filter((x) => x.TaskExecutionStatus === 'failed')) {
    const csv = await text(await s3.send(new GetObjectCommand({ Bucket: rep, Key: r.Key })));
    for (const line of csv.trim().split('\n')) failed.push(parseCsvLine(line));
  }
  return { job, jobId: JobId, failed };
}

// One RFC 4180 line (quoted fields with "" escapes), as the report writes them.
function parseCsvLine(line) {
  const out = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let v = '';
      i++;
      while (i < line.length) {
        if (line[i] === '"' && line[i + 1] === '"') { v += '"'; i += 2; } else if (line[i] === '"') { i++; break; } else { v += line[i++]; }
      }
      out.push(v);
      i++; // the comma
    } else {
      const c = line.indexOf(',', i);
      const e = c < 0 ? line.length : c;
      out.push(line.slice(i, e));
      i = e + 1;
    }
  }
  return out;
}

async function srcAndDst() {
  const [src, dst] = [await bucket('jssrc'), await bucket('jsdst')];
  await s3.send(new PutObjectCommand({ Bucket: src, Key: 'photo.jpg', Body: 'jpeg' }));
  return [src, dst];
}

async function keyCount(b) {
  return (await s3.send(new ListObjectsV2Command({ Bucket: b }))).KeyCount;
}

test('a function whose role cannot write the destination: the walkthrough function reports PermanentFailure', async () => {
  const [src, dst] = await srcAndDst();
  const fnRole = unique('jsro');
  const fn = await walkthroughFunction(await role(fnRole, 'lambda.amazonaws.com',
    [allow('s3:GetObject', `arn:aws:s3:::${src}/*`)]));
  const { job, failed } = await runJob(src, dst, fn.arn, (man, rep) => role(unique('jsjob'),
    'batchoperations.s3.amazonaws.com', [allow('lambda:InvokeFunction', fn.arn),
      allow('s3:GetObject', `arn:aws:s3:::${man}/*`), allow('s3:PutObject', `arn:aws:s3:::${rep}/*`)]));
  assert.equal(job.Status, 'Complete');
  assert.equal(job.ProgressSummary.NumberOfTasksFailed, 1);
  assert.equal(failed.length, 1, JSON.stringify(failed));
  assert.equal(failed[0][1], 'photo.jpg');
  assert.equal(failed[0][5], 'PermanentFailure');
  assert.equal(failed[0][6], `AccessDenied: User: arn:aws:sts::${ACCOUNT}:assumed-role/${fnRole}/${fn.name} `
    + `is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::${dst}/copied/photo.jpg_new `
    + 'because no identity-based policy allows the s3:PutObject action');
  assert.equal(await keyCount(dst), 0, 'nothing written');
});

test('a job whose role lacks lambda:InvokeFunction: its task is AccessDenied, the function never runs', async () => {
  const [src, dst] = await srcAndDst();
  const fn = await walkthroughFunction(await role(unique('jsfn'), 'lambda.amazonaws.com',
    [allow('s3:*', '*')]));
  const jobRole = unique('jsnoinv');
  const { job, jobId, failed } = await runJob(src, dst, fn.arn, (man, rep) => role(jobRole,
    'batchoperations.s3.amazonaws.com', [allow('s3:GetObject', `arn:aws:s3:::${man}/*`),
      allow('s3:PutObject', `arn:aws:s3:::${rep}/*`)]));
  assert.equal(job.Status, 'Complete');
  assert.equal(job.ProgressSummary.NumberOfTasksFailed, 1);
  assert.deepEqual(failed.map((r) => [r[4], r[5]]), [['403', 'AccessDenied']]);
  assert.equal(failed[0][6], `User: arn:aws:sts::${ACCOUNT}:assumed-role/${jobRole}/s3-batch-operations-${jobId} `
    + `is not authorized to perform: lambda:InvokeFunction on resource: ${fn.arn} because no `
    + 'identity-based policy allows the lambda:InvokeFunction action');
  assert.equal(await keyCount(dst), 0, 'the function never ran');
});

test('a presigned URL of a user whose key is then deactivated', async () => {
  const b = await bucket('jspre');
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'presigned' }));
  const { name, creds } = await user('arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess');
  const c = client(S3Client, creds);
  const url = await getSignedUrl(c, new GetObjectCommand({ Bucket: b, Key: 'k' }), { expiresIn: 600 });
  c.destroy();
  let r = await fetch(url);
  assert.equal(r.status, 200);
  assert.equal(await r.text(), 'presigned');
  await iam.send(new UpdateAccessKeyCommand({ UserName: name, AccessKeyId: creds.accessKeyId,
    Status: 'Inactive' }));
  r = await fetch(url);
  assert.equal(r.status, 403);
  assert.match(await r.text(), /<Code>InvalidAccessKeyId<\/Code>/);
  await iam.send(new UpdateAccessKeyCommand({ UserName: name, AccessKeyId: creds.accessKeyId,
    Status: 'Active' }));
  r = await fetch(url);
  assert.equal(r.status, 200, 'Active again');
  await r.text();
});

// Session credentials exactly as GetSessionToken mints them, with a chosen expiry (the
// server's own key): the only way to hold credentials that have expired within a test.
function forgeUserSession(userArn, expiresMs) {
  const key = fs.readFileSync(path.join(srv.data, 'keys', 'server.key'));
  const mac = (k, a, b) => crypto.createHmac('sha256', k).update(Buffer.concat([
    Buffer.from(a), Buffer.from([0]), Buffer.from(b)])).digest();
  const kAkid = mac(key, 'quarry creds akid', 'v1');
  const kToken = mac(key, 'quarry creds token', 'v1');
  const kSecret = mac(key, 'quarry creds secret', 'v1');
  const exp = Buffer.alloc(8);
  exp.writeBigInt64BE(BigInt(expiresMs));
  let raw = Buffer.concat([Buffer.from([2, 4, 0]), exp, crypto.randomBytes(4)]);
  raw = Buffer.concat([raw, mac(kAkid, raw, 'akid').subarray(0, 10)]);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const byte of raw) bits += byte.toString(2).padStart(8, '0');
  let b32 = '';
  for (let i = 0; i + 5 <= bits.length; i += 5) b32 += alphabet[parseInt(bits.slice(i, i + 5), 2)];
  const akid = `ASIA${b32}`;
  const now = Buffer.alloc(8);
  now.writeBigInt64BE(BigInt(Date.now()));
  const pr = Buffer.from(userArn);
  const prLen = Buffer.alloc(2);
  prLen.writeUInt16BE(pr.length);
  const payload = Buffer.concat([now, Buffer.from([0]), prLen, pr, Buffer.from([0, 0])]);
  const b64u = (b) => b.toString('base64url');
  return {
    accessKeyId: akid,
    secretAccessKey: mac(kSecret, akid, payload).subarray(0, 30).toString('base64'),
    sessionToken: `${b64u(payload)}.${b64u(mac(kToken, akid, payload))}`,
  };
}

test('expired session credentials are refused with ExpiredToken', async () => {
  const b = await bucket('jsexp');
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'k', Body: 'x' }));
  const { name } = await user('arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess');
  const arn = `arn:aws:iam::${ACCOUNT}:user/${name}`;
  const live = forgeUserSession(arn, Date.now() + 600000);
  assert.equal(await text(await client(S3Client, live).send(new GetObjectCommand({ Bucket: b, Key: 'k' }))),
    'x', 'the same credentials before their expiry');
  const dead = forgeUserSession(arn, Date.now() - 1000);
  await rejectsWith(client(S3Client, dead).send(new GetObjectCommand({ Bucket: b, Key: 'k' })),
    'ExpiredToken');
  await rejectsWith(client(STSClient, dead).send(new GetCallerIdentityCommand({})), 'ExpiredToken');
});

test('a bucket policy denying one prefix', async () => {
  const b = await bucket('jsbp');
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'public/a', Body: 'public' }));
  await s3.send(new PutObjectCommand({ Bucket: b, Key: 'secret/b', Body: 'secret' }));
  const { creds } = await user('arn:aws:iam::aws:policy/AmazonS3FullAccess');
  const c = client(S3Client, creds);
  await s3.send(new PutBucketPolicyCommand({ Bucket: b, Policy: policy([{ Effect: 'Deny',
    Principal: '*', Action: 's3:*', Resource: `arn:aws:s3:::${b}/secret/*` }]) }));
  assert.equal(await text(await c.send(new GetObjectCommand({ Bucket: b, Key: 'public/a' }))), 'public');
  const e = await rejectsWith(c.send(new GetObjectCommand({ Bucket: b, Key: 'secret/b' })), 'AccessDenied');
  assert.match(e.message, /with an explicit deny in a resource-based policy/);
  await rejectsWith(c.send(new PutObjectCommand({ Bucket: b, Key: 'secret/new', Body: 'x' })), 'AccessDenied');
  await rejectsWith(c.send(new DeleteObjectCommand({ Bucket: b, Key: 'secret/b' })), 'AccessDenied');
  assert.equal(await keyCount(b), 2, 'nothing written or deleted');
  await s3.send(new DeleteBucketPolicyCommand({ Bucket: b }));
  assert.equal(await text(await c.send(new GetObjectCommand({ Bucket: b, Key: 'secret/b' }))), 'secret');
  c.destroy();
});

test('malformed policy documents: each refused with its reason, nothing stored', async () => {
  await iam.send(new CreateRoleCommand({ RoleName: 'js-target', AssumeRolePolicyDocument: trust('lambda.amazonaws.com') }));
  const stmt = (s) => JSON.stringify({ Version: '2012-10-17', Statement: [s] });
  const bad = {
    'bad JSON': ['{"Version": "2012-10-17", "Statement": [', 'MalformedPolicyDocumentException'],
    'unknown Effect': [stmt({ Effect: 'Perhaps', Action: 's3:*', Resource: '*' }), 'MalformedPolicyDocumentException'],
    'bad ARN': [stmt({ Effect: 'Allow', Action: 's3:*', Resource: 'arn:aws' }), 'MalformedPolicyDocumentException'],
    'wrong Version': [JSON.stringify({ Version: '2020-01-01', Statement: [{ Effect: 'Allow', Action: 's3:*',
      Resource: '*' }] }), 'MalformedPolicyDocumentException'],
    // IAM's quotas: 10240 characters for a role's inline policies, 6144 for a managed one
    oversized: [policy(Array.from({ length: 60 }, (_, i) => ({ Sid: `s${i}`, Effect: 'Allow',
      Action: 's3:GetObject', Resource: `arn:aws:s3:::bucket-${String(i).padStart(6, '0')}/${'k'.repeat(100)}` }))),
    'LimitExceededException'],
  };
  let i = 0;
  for (const [what, [doc, want]] of Object.entries(bad)) {
    const e = await rejectsWith(iam.send(new PutRolePolicyCommand({ RoleName: 'js-target',
      PolicyName: 'p', PolicyDocument: doc })), want);
    assert.ok(e.message && e.message.length > 5, `${what}: a reason: ${e.message}`);
    await rejectsWith(iam.send(new CreatePolicyCommand({ PolicyName: `js-bad-${i++}`,
      PolicyDocument: doc })), want);
  }
  const inl = await iam.send(new ListRolePoliciesCommand({ RoleName: 'js-target' }));
  assert.deepEqual(inl.PolicyNames, [], 'no inline policy stored');
  const mp = await iam.send(new ListPoliciesCommand({ Scope: 'Local' }));
  assert.deepEqual((mp.Policies || []).map((p) => p.PolicyName).filter((n) => n.startsWith('js-bad-')), [],
    'no managed policy stored');
});
