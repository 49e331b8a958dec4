// index.js - nodejs20.x CommonJS handler (no package.json, so .js is CommonJS): require()s
// the SDK v3 from the runtime's NODE_PATH, answers with what it saw, fails on {"fail":..}.
'use strict';
const { S3Client, GetObjectCommand } = require('@aws-sdk/client-s3');

exports.handler = async (event, context) => {
  if (event.fail) throw new TypeError(`cjs failure: ${event.fail}`);
  const s3 = new S3Client({ forcePathStyle: true });
  let body = null;
  if (event.bucket) {
    const r = await s3.send(new GetObjectCommand({ Bucket: event.bucket, Key: event.key }));
    body = await r.Body.transformToString();
  }
  return {
    type: 'cjs', requestId: context.awsRequestId, functionName: context.functionName,
    version: context.functionVersion, arn: context.invokedFunctionArn, got: body,
    remaining: context.getRemainingTimeInMillis(),
  };
};
