// batch_manifests.test.mjs - S3 Batch Operations manifests beyond one CSV object with the
// AWS SDK for JavaScript v3 against a real quarry: a ManifestGenerator job (key, size and
// creation-time filters, EnableManifestOutput, GeneratedManifestDescriptor) whose generated
// manifest then runs as an S3InventoryReport_CSV_20161130 manifest of a second job.
// Run: node --test tests/integration/js/batch_manifests.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import {
  S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand, GetObjectTaggingCommand,
} from '@aws-sdk/client-s3';
import {
  S3ControlClient, CreateJobCommand, DescribeJobCommand,
} from '@aws-sdk/client-s3-control';
import { startServer, stopServer, ACCESS_KEY, SECRET_KEY, REGION, createRoles, BATCH_ROLE } from './server.mjs';

const ACCOUNT = '123456789012';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/batch-ops`;
const creds = { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY };
let srv, s3, ctl;

const unique = (base) => `${base}-${crypto.randomBytes(4).toString('hex')}`;
const bytes = async (r) => Buffer.from(await r.Body.transformToByteArray());

before(async () => {
  srv = await startServer();
  s3 = new S3Client({ endpoint: srv.endpoint, region: REGION, maxAttempts: 1, credentials: creds,
    forcePathStyle: true });
  ctl = new S3ControlClient({ endpoint: srv.controlEndpoint, region: REGION, maxAttempts: 1,
    credentials: creds });
  await createRoles(srv, [BATCH_ROLE]); // jobs run as their role
});

after(async () => {
  for (const c of [s3, ctl]) if (c) c.destroy();
  if (srv) await stopServer(srv);
});

async function bucket() {
  const b = unique('jsm');
  await s3.send(new CreateBucketCommand({ Bucket: b }));
  return b;
}

async function waitJob(id) {
  const end = Date.now() + 120000;
  for (;;) {
    const { Job } = await ctl.send(new DescribeJobCommand({ AccountId: ACCOUNT, JobId: id }));
    if (['Complete', 'Failed', 'Cancelled'].includes(Job.Status)) return Job;
    assert.ok(Date.now() < end, `job ${id} still ${Job.Status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const tagOp = (v) => ({ S3PutObjectTagging: { TagSet: [{ Key: 'js', Value: v }] } });

async function tagOf(b, k) {
  const r = await s3.send(new GetObjectTaggingCommand({ Bucket: b, Key: k }));
  return Object.fromEntries(r.TagSet.map((t) => [t.Key, t.Value]));
}

test('ManifestGenerator with filters and output, then the output as an inventory', async () => {
  const src = await bucket();
  const out = await bucket();
  const objs = { 'img/a.jpg': 3000, 'img/b.jpg': 10, 'img/c.png': 3000, 'doc/d.jpg': 5000 };
  for (const [k, n] of Object.entries(objs)) {
    await s3.send(new PutObjectCommand({ Bucket: src, Key: k, Body: Buffer.alloc(n, 1) }));
  }
  const hourAgo = new Date(Date.now() - 3600 * 1000);
  const { JobId } = await ctl.send(new CreateJobCommand({
    AccountId: ACCOUNT, ConfirmationRequired: false, Priority: 5, RoleArn: ROLE,
    ClientRequestToken: crypto.randomUUID(), Operation: tagOp('gen'),
    Report: { Enabled: false },
    ManifestGenerator: { S3JobManifestGenerator: {
      SourceBucket: `arn:aws:s3:::${src}`, EnableManifestOutput: true,
      ManifestOutputLocation: { Bucket: `arn:aws:s3:::${out}`, ManifestPrefix: 'g',
        ManifestFormat: 'S3InventoryReport_CSV_20211130' },
      Filter: { KeyNameConstraint: { MatchAnyPrefix: ['img/'], MatchAnySuffix: ['.jpg'] },
        ObjectSizeGreaterThanBytes: 100, CreatedAfter: hourAgo },
    } },
  }));
  const job = await waitJob(JobId);
  assert.equal(job.Status, 'Complete');
  assert.equal(job.ProgressSummary.TotalNumberOfTasks, 1);
  assert.deepEqual(await tagOf(src, 'img/a.jpg'), { js: 'gen' });
  assert.deepEqual(await tagOf(src, 'doc/d.jpg'), {});
  assert.equal(job.ManifestGenerator.S3JobManifestGenerator.SourceBucket, `arn:aws:s3:::${src}`);
  const loc = job.GeneratedManifestDescriptor.Location;
  assert.equal(job.GeneratedManifestDescriptor.Format, 'S3InventoryReport_CSV_20211130');
  assert.equal(loc.ObjectArn, `arn:aws:s3:::${out}/g/job-${JobId}/manifest.json`);
  const m = JSON.parse((await bytes(await s3.send(new GetObjectCommand({
    Bucket: out, Key: `g/job-${JobId}/manifest.json` })))).toString());
  const data = await bytes(await s3.send(new GetObjectCommand({ Bucket: out, Key: m.files[0].key })));
  assert.equal(crypto.createHash('md5').update(data).digest('hex'), m.files[0].MD5checksum);
  assert.equal(zlib.gunzipSync(data).toString(), `"${src}","img/a.jpg"\n`);

  const second = await ctl.send(new CreateJobCommand({
    AccountId: ACCOUNT, ConfirmationRequired: false, Priority: 5, RoleArn: ROLE,
    ClientRequestToken: crypto.randomUUID(), Operation: tagOp('inv'), Report: { Enabled: false },
    Manifest: { Spec: { Format: 'S3InventoryReport_CSV_20161130' },
      Location: { ObjectArn: loc.ObjectArn, ETag: loc.ETag } },
  }));
  const job2 = await waitJob(second.JobId);
  assert.equal(job2.Status, 'Complete');
  assert.equal(job2.Manifest.Spec.Format, 'S3InventoryReport_CSV_20161130');
  assert.deepEqual(await tagOf(src, 'img/a.jpg'), { js: 'inv' });
});
