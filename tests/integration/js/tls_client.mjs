// tls_client.mjs - the AWS SDK for JavaScript v3 against quarry's HTTPS port, run by
// ../test_tls.py: `node tls_client.mjs https://127.0.0.1:PORT BUCKET` with
// NODE_EXTRA_CA_CERTS naming the test's self-signed certificate. Puts a stream body
// (sent aws-chunked with a trailing checksum) and a 2 MiB buffer, reads both back, and
// prints one line: `ok` or what differed.
import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { S3Client, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';

const [endpoint, bucket] = process.argv.slice(2);
const s3 = new S3Client({
  endpoint, region: 'us-east-1', maxAttempts: 1, forcePathStyle: true,
  credentials: { accessKeyId: 'quarry', secretAccessKey: 'quarry-secret-key' },
});
const small = crypto.randomBytes(100000);
const big = crypto.randomBytes(2 * 1024 * 1024);
await s3.send(new PutObjectCommand({
  Bucket: bucket, Key: 'js/stream', Body: Readable.from([small]), ContentLength: small.length,
  ChecksumAlgorithm: 'CRC32',
}));
await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'js/big', Body: big }));
const problems = [];
for (const [key, want] of [['js/stream', small], ['js/big', big]]) {
  const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const got = Buffer.from(await r.Body.transformToByteArray());
  if (!got.equals(want)) problems.push(`${key}: ${got.length} bytes, want ${want.length}`);
}
console.log(problems.length ? problems.join('; ') : 'ok');
