// s3_safety.test.mjs - the AWS SDK for JavaScript v3 never gets one S3 operation carried
// out as another by quarry: sub-resources it does not serve are refused and change
// nothing, version ids never reach the live object, meaning-changing headers are refused,
// a retried CompleteMultipartUpload answers like the first, and conditional PUTs hold.
// Run: node --test tests/integration/js/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  S3Client, CreateBucketCommand, HeadBucketCommand, PutObjectCommand, GetObjectCommand,
  DeleteObjectCommand, DeleteBucketTaggingCommand, GetBucketVersioningCommand,
  ListObjectVersionsCommand, CreateMultipartUploadCommand, UploadPartCommand,
  CompleteMultipartUploadCommand,
} from '@aws-sdk/client-s3';
import { startServer, stopServer, logTail, ACCESS_KEY, SECRET_KEY, REGION } from './server.mjs';

let srv;
let s3;
let http; // the plain HTTP listener, also when the run is over TLS
const GP = 'jssafe';
const DIR = 'jssafe--use1-az4--x-s3';

before(async () => {
  srv = await startServer();
  s3 = new S3Client({
    endpoint: srv.endpoint, region: REGION, maxAttempts: 1,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
  });
  http = new S3Client({
    endpoint: srv.plainEndpoint, region: REGION, maxAttempts: 1,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
  });
  await s3.send(new CreateBucketCommand({ Bucket: GP }));
  await s3.send(new CreateBucketCommand({
    Bucket: DIR,
    CreateBucketConfiguration: {
      Location: { Type: 'AvailabilityZone', Name: 'use1-az4' },
      Bucket: { DataRedundancy: 'SingleAvailabilityZone', Type: 'Directory' },
    },
  }));
});

after(async () => {
  if (s3) s3.destroy();
  if (srv) await stopServer(srv);
});

async function failWithLog(fn) {
  try {
    await fn();
  } catch (e) {
    e.message += `\n--- server log tail ---\n${logTail(srv)}`;
    throw e;
  }
}

async function text(bucket, key) {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return r.Body.transformToString();
}

async function rejects(p, name, status) {
  await assert.rejects(p, (e) => e.name === name && e.$metadata.httpStatusCode === status);
}

test('DeleteBucketTagging is refused and the bucket stays', () => failWithLog(async () => {
  await s3.send(new CreateBucketCommand({ Bucket: 'jsempty' }));
  await rejects(s3.send(new DeleteBucketTaggingCommand({ Bucket: 'jsempty' })), 'NotImplemented', 501);
  await s3.send(new HeadBucketCommand({ Bucket: 'jsempty' }));
}));

test('version ids never touch the live object', () => failWithLog(async () => {
  await s3.send(new PutObjectCommand({ Bucket: GP, Key: 'v', Body: 'live' }));
  await rejects(s3.send(new DeleteObjectCommand({ Bucket: GP, Key: 'v', VersionId: 'abc' })),
    'InvalidArgument', 400);
  const absent = 'Z'.repeat(32);
  const r = await s3.send(new DeleteObjectCommand({ Bucket: GP, Key: 'v', VersionId: absent }));
  assert.equal(r.$metadata.httpStatusCode, 204);
  assert.equal(await text(GP, 'v'), 'live');
  await rejects(s3.send(new GetObjectCommand({ Bucket: GP, Key: 'v', VersionId: absent })),
    'NoSuchVersion', 404);
  const ver = await s3.send(new GetBucketVersioningCommand({ Bucket: GP }));
  assert.equal(ver.Status, undefined);
  const list = await s3.send(new ListObjectVersionsCommand({ Bucket: GP, Prefix: 'v' }));
  assert.deepEqual(list.Versions.map((x) => [x.Key, x.VersionId, x.IsLatest]), [['v', 'null', true]]);
}));

test('plain-HTTP SSE-C, object lock and ACL headers are refused', () => failWithLog(async () => {
  for (const bucket of [GP, DIR]) {
    // SSE-C over plain HTTP: S3's refusal (directory buckets have no SSE-C at all)
    await rejects(http.send(new PutObjectCommand({ Bucket: bucket, Key: 'sse', Body: 'x',
      SSECustomerAlgorithm: 'AES256', SSECustomerKey: 'k'.repeat(32) })),
    bucket === GP ? 'InvalidRequest' : 'InvalidArgument', 400);
    // Object Lock on a bucket created without it: S3's own refusal; none on directory buckets
    await rejects(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'lock', Body: 'x',
      ObjectLockLegalHoldStatus: 'ON' })), bucket === GP ? 'InvalidRequest' : 'NotImplemented',
    bucket === GP ? 400 : 501);
    await rejects(s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'acl', Body: 'x',
      ACL: 'public-read' })), 'NotImplemented', 501);
    for (const key of ['sse', 'lock', 'acl'])
      await rejects(s3.send(new GetObjectCommand({ Bucket: bucket, Key: key })), 'NoSuchKey', 404);
  }
}));

test('a retried CompleteMultipartUpload answers like the first', () => failWithLog(async () => {
  for (const bucket of [GP, DIR]) {
    const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mpu' }));
    const p = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: 'mpu', UploadId: up.UploadId,
      PartNumber: 1, Body: 'only part' }));
    const req = { Bucket: bucket, Key: 'mpu', UploadId: up.UploadId,
      MultipartUpload: { Parts: [{ ETag: p.ETag, PartNumber: 1 }] } };
    const first = await s3.send(new CompleteMultipartUploadCommand(req));
    const again = await s3.send(new CompleteMultipartUploadCommand(req));
    assert.equal(again.ETag, first.ETag);
    assert.equal(again.Location, first.Location);
    assert.equal(await text(bucket, 'mpu'), 'only part');
  }
}));

test('If-None-Match: * lets exactly one of two racing PUTs win', () => failWithLog(async () => {
  for (const bucket of [GP, DIR]) {
    for (let round = 0; round < 20; round++) {
      const key = `race-${round}`;
      const results = await Promise.allSettled([0, 1].map((i) => s3.send(new PutObjectCommand({
        Bucket: bucket, Key: key, Body: `writer ${i}`, IfNoneMatch: '*' }))));
      const ok = results.filter((r) => r.status === 'fulfilled');
      const failed = results.filter((r) => r.status === 'rejected');
      assert.equal(ok.length, 1, `round ${round}: ${JSON.stringify(results.map((r) => r.status))}`);
      assert.equal(failed[0].reason.$metadata.httpStatusCode, 412);
      const winner = results.findIndex((r) => r.status === 'fulfilled');
      assert.equal(await text(bucket, key), `writer ${winner}`);
    }
  }
}));
