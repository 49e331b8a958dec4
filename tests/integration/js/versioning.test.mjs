// versioning.test.mjs - S3 Versioning and Object Lock with the AWS SDK for JavaScript v3
// (@aws-sdk/client-s3) against a real quarry: bucket versioning, version ids on writes,
// reads and deletes of one version, delete markers as the SDK surfaces them, paging
// ListObjectVersions with its markers, and a COMPLIANCE version nothing can delete.
// Run: node --test tests/integration/js/versioning.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import {
  S3Client, CreateBucketCommand, PutBucketVersioningCommand, GetBucketVersioningCommand,
  PutObjectCommand, GetObjectCommand, DeleteObjectCommand, ListObjectVersionsCommand,
  DeleteObjectsCommand, GetObjectRetentionCommand, PutObjectLegalHoldCommand,
  GetObjectLegalHoldCommand,
} from '@aws-sdk/client-s3';
import { startServer, stopServer, ACCESS_KEY, SECRET_KEY, REGION } from './server.mjs';

let srv;
let s3;
const B = 'jsvers';
const LOCKED = 'jsvers-locked';

before(async () => {
  srv = await startServer();
  s3 = new S3Client({
    endpoint: srv.endpoint, region: REGION, maxAttempts: 1, forcePathStyle: true,
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
  });
  await s3.send(new CreateBucketCommand({ Bucket: B }));
  await s3.send(new CreateBucketCommand({ Bucket: LOCKED, ObjectLockEnabledForBucket: true }));
});

after(async () => {
  if (s3) s3.destroy();
  if (srv) await stopServer(srv);
});

async function bodyOf(params) {
  const r = await s3.send(new GetObjectCommand(params));
  return Buffer.from(await r.Body.transformToByteArray());
}

async function errorOf(cmd) {
  try {
    await s3.send(cmd);
  } catch (e) {
    return e;
  }
  assert.fail('expected an error');
}

test('versioning: ids, old versions, delete markers', async () => {
  let r = await s3.send(new GetBucketVersioningCommand({ Bucket: B }));
  assert.equal(r.Status, undefined);
  await s3.send(new PutBucketVersioningCommand({
    Bucket: B, VersioningConfiguration: { Status: 'Enabled' },
  }));
  r = await s3.send(new GetBucketVersioningCommand({ Bucket: B }));
  assert.equal(r.Status, 'Enabled');
  const one = crypto.randomBytes(200 * 1024);
  const v1 = (await s3.send(new PutObjectCommand({ Bucket: B, Key: 'k', Body: one }))).VersionId;
  const v2 = (await s3.send(new PutObjectCommand({ Bucket: B, Key: 'k', Body: 'two' }))).VersionId;
  assert.match(v1, /^[A-Za-z0-9._]{32}$/);
  assert.notEqual(v1, v2);
  assert.deepEqual(await bodyOf({ Bucket: B, Key: 'k', VersionId: v1 }), one);
  assert.equal((await bodyOf({ Bucket: B, Key: 'k' })).toString(), 'two');
  const del = await s3.send(new DeleteObjectCommand({ Bucket: B, Key: 'k' }));
  assert.equal(del.DeleteMarker, true);
  const e = await errorOf(new GetObjectCommand({ Bucket: B, Key: 'k' }));
  assert.equal(e.name, 'NoSuchKey');
  assert.equal(e.$response?.headers?.['x-amz-delete-marker'], 'true');
  const ghost = await errorOf(new GetObjectCommand({ Bucket: B, Key: 'k', VersionId: 'Q'.repeat(32) }));
  assert.equal(ghost.$metadata.httpStatusCode, 404);
  assert.equal(ghost.Code ?? ghost.name, 'NoSuchVersion');
  // the marker goes by its id: the key is back
  const gone = await s3.send(new DeleteObjectCommand({ Bucket: B, Key: 'k', VersionId: del.VersionId }));
  assert.equal(gone.DeleteMarker, true);
  assert.equal((await bodyOf({ Bucket: B, Key: 'k' })).toString(), 'two');
});

test('ListObjectVersions pages with key and version-id markers', async () => {
  const want = [];
  for (const key of ['p/a', 'p/b']) {
    const ids = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await s3.send(new PutObjectCommand({ Bucket: B, Key: key, Body: `${key}${i}` }))).VersionId);
    }
    want.push(...ids.reverse().map((id) => `${key}@${id}`));
  }
  const got = [];
  let KeyMarker;
  let VersionIdMarker;
  for (;;) {
    const r = await s3.send(new ListObjectVersionsCommand({
      Bucket: B, Prefix: 'p/', MaxKeys: 2, KeyMarker, VersionIdMarker,
    }));
    got.push(...(r.Versions ?? []).map((v) => `${v.Key}@${v.VersionId}`));
    if (!r.IsTruncated) break;
    KeyMarker = r.NextKeyMarker;
    VersionIdMarker = r.NextVersionIdMarker;
  }
  assert.deepEqual(got, want);
  // empty the prefix through the listing, as tools do
  const r = await s3.send(new ListObjectVersionsCommand({ Bucket: B, Prefix: 'p/' }));
  const del = await s3.send(new DeleteObjectsCommand({
    Bucket: B,
    Delete: { Objects: r.Versions.map((v) => ({ Key: v.Key, VersionId: v.VersionId })) },
  }));
  assert.equal(del.Deleted.length, 6);
  const after = await s3.send(new ListObjectVersionsCommand({ Bucket: B, Prefix: 'p/' }));
  assert.equal(after.Versions, undefined);
});

test('object lock: COMPLIANCE and legal hold stop deletion', async () => {
  const until = new Date(Date.now() + 86400 * 1000);
  const c = await s3.send(new PutObjectCommand({
    Bucket: LOCKED, Key: 'c', Body: 'c', ObjectLockMode: 'COMPLIANCE', ObjectLockRetainUntilDate: until,
  }));
  const ret = await s3.send(new GetObjectRetentionCommand({ Bucket: LOCKED, Key: 'c', VersionId: c.VersionId }));
  assert.equal(ret.Retention.Mode, 'COMPLIANCE');
  const denied = await errorOf(new DeleteObjectCommand({
    Bucket: LOCKED, Key: 'c', VersionId: c.VersionId, BypassGovernanceRetention: true,
  }));
  assert.equal(denied.$metadata.httpStatusCode, 403);
  const h = await s3.send(new PutObjectCommand({ Bucket: LOCKED, Key: 'h', Body: 'h' }));
  await s3.send(new PutObjectLegalHoldCommand({
    Bucket: LOCKED, Key: 'h', VersionId: h.VersionId, LegalHold: { Status: 'ON' },
  }));
  const lh = await s3.send(new GetObjectLegalHoldCommand({ Bucket: LOCKED, Key: 'h', VersionId: h.VersionId }));
  assert.equal(lh.LegalHold.Status, 'ON');
  const held = await errorOf(new DeleteObjectCommand({ Bucket: LOCKED, Key: 'h', VersionId: h.VersionId }));
  assert.equal(held.$metadata.httpStatusCode, 403);
  assert.equal((await bodyOf({ Bucket: LOCKED, Key: 'c', VersionId: c.VersionId })).toString(), 'c');
});
