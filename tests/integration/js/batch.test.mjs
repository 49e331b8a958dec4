// batch.test.mjs - the AWS walkthrough with the AWS SDK for JavaScript v3
// (@aws-sdk/client-s3-control, client-s3, client-lambda) against a real quarry: directory
// buckets, a CSV manifest with awkward keys, the walkthrough's Python function, CreateJob
// (LambdaInvoke 2.0, UserArguments, no confirmation), DescribeJob until Complete, the copies
// and the completion report; then a job that waits for confirmation and is cancelled.
// The S3 Control client uses http://localhost:PORT: the SDK sends to 123456789012.localhost.
// Run: node --test tests/integration/js/batch.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand,
} from '@aws-sdk/client-s3';
import {
  LambdaClient, CreateFunctionCommand, waitUntilFunctionActiveV2,
} from '@aws-sdk/client-lambda';
import {
  S3ControlClient, CreateJobCommand, DescribeJobCommand, UpdateJobStatusCommand,
  ListJobsCommand,
} from '@aws-sdk/client-s3-control';
import { startServer, stopServer, logTail, ACCESS_KEY, SECRET_KEY, REGION, createRoles, LAMBDA_ROLE, BATCH_ROLE } from './server.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.resolve(here, '..', 'lambda_fixtures');
const ACCOUNT = '123456789012';
const creds = { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY };
const KEYS = ['js one.txt', 'js+two.txt', 'js%three.txt', 'js#four.txt', 'jsü/五.txt'];
const DIR_CFG = {
  Location: { Type: 'AvailabilityZone', Name: 'use1-az4' },
  Bucket: { DataRedundancy: 'SingleAvailabilityZone', Type: 'Directory' },
};
let srv, s3, lambda, ctl, tmp;

const unique = (base) => `${base}-${crypto.randomBytes(4).toString('hex')}`;
// Python's urllib.parse.quote_plus: what the walkthrough's manifests contain.
const quotePlus = (s) => encodeURIComponent(s).replace(/[!'()*]/g,
  (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).replace(/%20/g, '+');
const body = async (r) => Buffer.from(await r.Body.transformToByteArray()).toString('utf8');

before(async () => {
  srv = await startServer();
  s3 = new S3Client({ endpoint: srv.endpoint, region: REGION, maxAttempts: 1, credentials: creds });
  lambda = new LambdaClient({ endpoint: srv.endpoint, region: REGION, maxAttempts: 1, credentials: creds });
  ctl = new S3ControlClient({ endpoint: srv.controlEndpoint, region: REGION, maxAttempts: 1,
    credentials: creds });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'quarry-js-batch-'));
  // The walkthrough's roles: the function's (trusted by Lambda) and the job's (trusted by
  // Batch Operations).
  await createRoles(srv, [LAMBDA_ROLE, BATCH_ROLE]);
});

after(async () => {
  for (const c of [s3, lambda, ctl]) if (c) c.destroy();
  if (srv) await stopServer(srv);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function dirBucket() {
  const b = `${unique('jsb')}--use1-az4--x-s3`;
  await s3.send(new CreateBucketCommand({ Bucket: b, CreateBucketConfiguration: DIR_CFG }));
  return b;
}

async function gpBucket() {
  const b = unique('jsb');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  return b;
}

async function waitJob(id, states = ['Complete', 'Failed', 'Cancelled']) {
  const end = Date.now() + 120000;
  for (;;) {
    const { Job } = await ctl.send(new DescribeJobCommand({ AccountId: ACCOUNT, JobId: id }));
    if (states.includes(Job.Status)) return Job;
    if (Date.now() > end) throw new Error(`job ${id} still ${Job.Status}: ${logTail(srv)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('the walkthrough: LambdaInvoke 2.0 over directory buckets', async () => {
  const [src, dst, man, rep] = [await dirBucket(), await dirBucket(), await gpBucket(), await gpBucket()];
  for (const k of KEYS) await s3.send(new PutObjectCommand({ Bucket: src, Key: k, Body: `js ${k}` }));
  const lines = KEYS.map((k) => `${src},${quotePlus(k)}`);
  const put = await s3.send(new PutObjectCommand({ Bucket: man, Key: 'm.csv', Body: lines.join('\n') + '\n' }));

  const dir = path.join(tmp, 'fn');
  fs.mkdirSync(dir);
  fs.copyFileSync(path.join(fixtures, 'batch_walkthrough', 'lambda_function.py'),
    path.join(dir, 'lambda_function.py'));
  execFileSync('zip', ['-q', '-X', 'f.zip', 'lambda_function.py'], { cwd: dir });
  const name = unique('s3batchops-function');
  const fn = await lambda.send(new CreateFunctionCommand({
    FunctionName: name, Runtime: 'python3.11', Role: `arn:aws:iam::${ACCOUNT}:role/lambda-ex`,
    Handler: 'lambda_function.lambda_handler', Timeout: 30,
    Code: { ZipFile: fs.readFileSync(path.join(dir, 'f.zip')) },
  }));
  await waitUntilFunctionActiveV2({ client: lambda, maxWaitTime: 30, minDelay: 1, maxDelay: 1 },
    { FunctionName: name });

  const { JobId } = await ctl.send(new CreateJobCommand({
    AccountId: ACCOUNT, ConfirmationRequired: false, Priority: 1,
    RoleArn: `arn:aws:iam::${ACCOUNT}:role/batch-ops`, ClientRequestToken: crypto.randomUUID(),
    Operation: { LambdaInvoke: { FunctionArn: fn.FunctionArn, InvocationSchemaVersion: '2.0',
      UserArguments: { MyDestinationBucket: dst, MyDestinationBucketRegion: REGION,
        MyDestinationPrefix: 'copied/', MyDestinationObjectKeySuffix: '_new_suffix' } } },
    Manifest: { Spec: { Format: 'S3BatchOperations_CSV_20180820', Fields: ['Bucket', 'Key'] },
      Location: { ObjectArn: `arn:aws:s3:::${man}/m.csv`, ETag: put.ETag } },
    Report: { Bucket: `arn:aws:s3:::${rep}`, Format: 'Report_CSV_20180820', Enabled: true,
      Prefix: 'ReportPrefix', ReportScope: 'AllTasks' },
  }));
  const job = await waitJob(JobId);
  assert.equal(job.Status, 'Complete', JSON.stringify(job.FailureReasons));
  assert.equal(job.ProgressSummary.NumberOfTasksSucceeded, KEYS.length);
  assert.equal(job.ProgressSummary.NumberOfTasksFailed, 0);
  assert.ok(job.CreationTime instanceof Date && job.TerminationDate instanceof Date);
  for (const k of KEYS) {
    const r = await s3.send(new GetObjectCommand({ Bucket: dst, Key: `copied/${k}_new_suffix` }));
    assert.equal(await body(r), `js ${k}`);
  }
  const manifest = JSON.parse(await body(await s3.send(new GetObjectCommand({
    Bucket: rep, Key: `ReportPrefix/job-${JobId}/manifest.json` }))));
  assert.deepEqual(manifest.Results.map((r) => r.TaskExecutionStatus), ['succeeded']);
  const csv = await body(await s3.send(new GetObjectCommand({ Bucket: rep, Key: manifest.Results[0].Key })));
  assert.equal(crypto.createHash('md5').update(csv).digest('hex'), manifest.Results[0].MD5Checksum);
  const rows = csv.trim().split('\n').map((l) => l.split(',').slice(0, 2).join(','));
  assert.deepEqual(rows.sort(), [...lines].sort());
});

test('confirmation, ListJobs filter, cancel', async () => {
  const man = await gpBucket();
  const put = await s3.send(new PutObjectCommand({ Bucket: man, Key: 'm.csv', Body: `${man},k\n` }));
  const { JobId } = await ctl.send(new CreateJobCommand({
    AccountId: ACCOUNT, ConfirmationRequired: true, Priority: 3, Description: 'js suspended',
    RoleArn: `arn:aws:iam::${ACCOUNT}:role/batch-ops`, ClientRequestToken: crypto.randomUUID(),
    Operation: { S3DeleteObjectTagging: {} },
    Manifest: { Spec: { Format: 'S3BatchOperations_CSV_20180820', Fields: ['Bucket', 'Key'] },
      Location: { ObjectArn: `arn:aws:s3:::${man}/m.csv`, ETag: put.ETag } },
    Report: { Enabled: false },
  }));
  const job = await waitJob(JobId, ['Suspended']);
  assert.equal(job.SuspendedCause, 'ConfirmationRequired');
  const list = await ctl.send(new ListJobsCommand({ AccountId: ACCOUNT, JobStatuses: ['Suspended'] }));
  assert.ok(list.Jobs.some((j) => j.JobId === JobId && j.Description === 'js suspended'));
  const r = await ctl.send(new UpdateJobStatusCommand({ AccountId: ACCOUNT, JobId,
    RequestedJobStatus: 'Cancelled', StatusUpdateReason: 'from js' }));
  assert.equal(r.Status, 'Cancelled');
  await assert.rejects(ctl.send(new UpdateJobStatusCommand({ AccountId: ACCOUNT, JobId,
    RequestedJobStatus: 'Ready' })), (e) => e.name === 'JobStatusException' && e.$metadata.httpStatusCode === 409);
  await assert.rejects(ctl.send(new DescribeJobCommand({ AccountId: ACCOUNT,
    JobId: '00000000-0000-4000-8000-000000000000' })), (e) => e.name === 'NotFoundException');
});
