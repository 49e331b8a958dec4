// js-put.cjs - one PutObject of a file through the AWS SDK for JavaScript v3 with a stream
// body, run by s3-get-put: `node js-put.cjs ENDPOINT BUCKET KEY FILE` with the keys in
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and NODE_PATH naming tests/node_modules.
// The SDK sends a stream body aws-chunked (STREAMING-UNSIGNED-PAYLOAD-TRAILER) with a
// trailing CRC32, its default. Prints the seconds the PutObject took.
'use strict';
const fs = require('node:fs');
const { S3Client, PutObjectCommand } = require('@aws-sdk/client-s3');

async function main() {
  const [endpoint, bucket, key, file] = process.argv.slice(2);
  const s3 = new S3Client({
    endpoint, region: 'us-east-1', maxAttempts: 1, forcePathStyle: true,
    credentials: {
      accessKeyId: process.env.AWS_ACCESS_KEY_ID,
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY,
    },
  });
  const size = fs.statSync(file).size;
  const t0 = process.hrtime.bigint();
  await s3.send(new PutObjectCommand({
    Bucket: bucket, Key: key, Body: fs.createReadStream(file, { highWaterMark: 1 << 20 }),
    ContentLength: size,
  }));
  console.log((Number(process.hrtime.bigint() - t0) / 1e9).toFixed(3));
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
