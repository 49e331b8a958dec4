// index.mjs - nodejs20.x ES module handler: imports the AWS SDK v3 unbundled (quarry's Node
// runtime provides @aws-sdk/client-s3) and puts an object to quarry's S3 with the
// function's own credentials (AWS_ENDPOINT_URL and the AWS_* keys from the environment).
import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';

const s3 = new S3Client({ forcePathStyle: true });
let invokes = 0;

export const handler = async (event, context) => {
  invokes += 1;
  console.log(`esm handler invoke=${invokes}`);
  if (event.fail) throw new Error(`esm failure: ${event.fail}`);
  const body = JSON.stringify({ requestId: context.awsRequestId, node: process.version });
  await s3.send(new PutObjectCommand({ Bucket: event.bucket, Key: event.key, Body: body }));
  return {
    type: 'esm', put: event.key, requestId: context.awsRequestId, count: invokes,
    functionName: context.functionName, memory: context.memoryLimitInMB,
    execEnv: process.env.AWS_EXECUTION_ENV, endpoint: process.env.AWS_ENDPOINT_URL,
  };
};
