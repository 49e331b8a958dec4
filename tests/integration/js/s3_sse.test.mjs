// s3_sse.test.mjs - SSE-C with the AWS SDK for JavaScript v3: the SDK computes the key's
// MD5 and base64 itself; quarry stores the object encrypted under that key, refuses reads
// without it or with another key as S3 does, serves ranges and multipart parts with it,
// and answers SSE-S3 by default. (quarry runs with --sse-c-over-http: the test talks
// plain HTTP on loopback.)
// Run: node --test tests/integration/js/s3_sse.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand, HeadObjectCommand,
  CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand,
  CopyObjectCommand, GetBucketEncryptionCommand,
} from '@aws-sdk/client-s3';
import { startServer, stopServer, logTail, ACCESS_KEY, SECRET_KEY, REGION } from './server.mjs';

let srv;
let s3;
const B = 'jssse';
const KEY = crypto.randomBytes(32);
const OTHER = crypto.randomBytes(32);
const ssec = (k) => ({ SSECustomerAlgorithm: 'AES256', SSECustomerKey: k });

before(async () => {
  srv = await startServer(['--sse-c-over-http']);
  s3 = new S3Client({
    endpoint: srv.endpoint, region: REGION, maxAttempts: 1, forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
  });
  await s3.send(new CreateBucketCommand({ Bucket: B }));
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

async function bytes(p) {
  return Buffer.from(await (await p).Body.transformToByteArray());
}

async function rejects(p, status) {
  await assert.rejects(p, (e) => e.$metadata.httpStatusCode === status);
}

test('SSE-S3 is the default and is said', () => failWithLog(async () => {
  const r = await s3.send(new PutObjectCommand({ Bucket: B, Key: 'plain', Body: 'hello' }));
  assert.equal(r.ServerSideEncryption, 'AES256');
  const enc = await s3.send(new GetBucketEncryptionCommand({ Bucket: B }));
  assert.equal(enc.ServerSideEncryptionConfiguration.Rules[0]
    .ApplyServerSideEncryptionByDefault.SSEAlgorithm, 'AES256');
}));

test('SSE-C object: unreadable without its key or with another', () => failWithLog(async () => {
  const body = crypto.randomBytes(200 * 1024 + 3);
  const r = await s3.send(new PutObjectCommand({ Bucket: B, Key: 'c', Body: body, ...ssec(KEY) }));
  const md5 = crypto.createHash('md5').update(KEY).digest('base64');
  assert.equal(r.SSECustomerKeyMD5, md5);
  assert.deepEqual(await bytes(s3.send(new GetObjectCommand({ Bucket: B, Key: 'c', ...ssec(KEY) }))), body);
  await rejects(s3.send(new GetObjectCommand({ Bucket: B, Key: 'c' })), 400);
  await rejects(s3.send(new GetObjectCommand({ Bucket: B, Key: 'c', ...ssec(OTHER) })), 403);
  await rejects(s3.send(new HeadObjectCommand({ Bucket: B, Key: 'c', ...ssec(OTHER) })), 403);
  const h = await s3.send(new HeadObjectCommand({ Bucket: B, Key: 'c', ...ssec(KEY) }));
  assert.equal(h.ContentLength, body.length);
  const part = await bytes(s3.send(new GetObjectCommand({ Bucket: B, Key: 'c', Range: 'bytes=70001-140003',
    ...ssec(KEY) })));
  assert.deepEqual(part, body.subarray(70001, 140004));
}));

test('SSE-C multipart and a copy under the same key', () => failWithLog(async () => {
  const p1 = crypto.randomBytes(5 * 1024 * 1024);
  const p2 = crypto.randomBytes(777);
  const up = await s3.send(new CreateMultipartUploadCommand({ Bucket: B, Key: 'm', ...ssec(KEY) }));
  await rejects(s3.send(new UploadPartCommand({ Bucket: B, Key: 'm', UploadId: up.UploadId, PartNumber: 1,
    Body: p1 })), 400);
  const parts = [];
  for (const [i, data] of [[1, p1], [2, p2]]) {
    const r = await s3.send(new UploadPartCommand({ Bucket: B, Key: 'm', UploadId: up.UploadId, PartNumber: i,
      Body: data, ...ssec(KEY) }));
    parts.push({ PartNumber: i, ETag: r.ETag });
  }
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: B, Key: 'm', UploadId: up.UploadId,
    MultipartUpload: { Parts: parts } }));
  assert.deepEqual(await bytes(s3.send(new GetObjectCommand({ Bucket: B, Key: 'm', ...ssec(KEY) }))),
    Buffer.concat([p1, p2]));
  await rejects(s3.send(new GetObjectCommand({ Bucket: B, Key: 'm' })), 400);
  await s3.send(new CopyObjectCommand({ Bucket: B, Key: 'm2', CopySource: `${B}/m`, ...ssec(KEY),
    CopySourceSSECustomerAlgorithm: 'AES256', CopySourceSSECustomerKey: KEY }));
  const got = await bytes(s3.send(new GetObjectCommand({ Bucket: B, Key: 'm2', Range: 'bytes=5242879-5242881',
    ...ssec(KEY) })));
  assert.deepEqual(got, Buffer.concat([p1, p2]).subarray(5242879, 5242882));
}));
