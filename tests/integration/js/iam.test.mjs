// iam.test.mjs - the AWS SDK for JavaScript v3 (@aws-sdk/client-iam, @aws-sdk/client-sts)
// against a real quarry: the walkthrough's role commands, a user with AmazonS3ReadOnlyAccess
// that reads and is denied PUT, DELETE and a ReadWrite CreateSession, AssumeRole refused by
// one trust policy and allowed by another, credentials from STS used with client-s3, and
// errors the JS SDK can parse (NoSuchEntity, MalformedPolicyDocument, AccessDenied).
// Run: node --test tests/integration/js/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  IAMClient, CreateRoleCommand, AttachRolePolicyCommand, PutRolePolicyCommand, GetRoleCommand,
  GetRolePolicyCommand, ListAttachedRolePoliciesCommand, CreateUserCommand,
  CreateAccessKeyCommand, AttachUserPolicyCommand, PutUserPolicyCommand, GetUserCommand,
} from '@aws-sdk/client-iam';
import { STSClient, AssumeRoleCommand, GetCallerIdentityCommand } from '@aws-sdk/client-sts';
import {
  S3Client, CreateBucketCommand, PutObjectCommand, GetObjectCommand, DeleteObjectCommand,
  CreateSessionCommand,
} from '@aws-sdk/client-s3';
import {
  startServer, stopServer, logTail, clientOf, rejectsWith, ACCESS_KEY, SECRET_KEY, REGION,
} from './server.mjs';

const ACCOUNT = '123456789012';
const GP = 'jsiam';
const DIR = 'jsiam--use1-az4--x-s3';
const root = { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY };
let srv;
let iam;

const client = (Cls, credentials) => clientOf(srv, Cls, credentials);

before(async () => {
  srv = await startServer();
  iam = client(IAMClient, root);
  const s3 = client(S3Client, root);
  await s3.send(new CreateBucketCommand({ Bucket: GP }));
  await s3.send(new CreateBucketCommand({
    Bucket: DIR,
    CreateBucketConfiguration: {
      Location: { Type: 'AvailabilityZone', Name: 'use1-az4' },
      Bucket: { DataRedundancy: 'SingleAvailabilityZone', Type: 'Directory' },
    },
  }));
  await s3.send(new PutObjectCommand({ Bucket: GP, Key: 'k', Body: 'hello' }));
});

after(async () => {
  if (srv) {
    if (process.exitCode) console.error(logTail(srv));
    await stopServer(srv);
  }
});

test('walkthrough role commands', async () => {
  const trust = { Version: '2012-10-17', Statement: [{
    Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] };
  const r = await iam.send(new CreateRoleCommand({
    RoleName: 'lambda-ex', AssumeRolePolicyDocument: JSON.stringify(trust) }));
  assert.equal(r.Role.Arn, `arn:aws:iam::${ACCOUNT}:role/lambda-ex`);
  await iam.send(new AttachRolePolicyCommand({
    RoleName: 'lambda-ex',
    PolicyArn: 'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole' }));
  const express = { Version: '2012-10-17', Statement: [{
    Effect: 'Allow', Action: 's3express:CreateSession', Resource: '*' }] };
  await iam.send(new PutRolePolicyCommand({
    RoleName: 'lambda-ex', PolicyName: 's3express-policy-for-lambda',
    PolicyDocument: JSON.stringify(express) }));
  const got = await iam.send(new GetRoleCommand({ RoleName: 'lambda-ex' }));
  assert.deepEqual(JSON.parse(decodeURIComponent(got.Role.AssumeRolePolicyDocument)), trust);
  const att = await iam.send(new ListAttachedRolePoliciesCommand({ RoleName: 'lambda-ex' }));
  assert.deepEqual(att.AttachedPolicies.map((p) => p.PolicyName), ['AWSLambdaBasicExecutionRole']);
  const inl = await iam.send(new GetRolePolicyCommand({
    RoleName: 'lambda-ex', PolicyName: 's3express-policy-for-lambda' }));
  assert.deepEqual(JSON.parse(decodeURIComponent(inl.PolicyDocument)), express);
  await rejectsWith(iam.send(new GetRoleCommand({ RoleName: 'nope' })), 'NoSuchEntityException');
  const bad = await rejectsWith(iam.send(new PutRolePolicyCommand({
    RoleName: 'lambda-ex', PolicyName: 'bad', PolicyDocument: '{"Version":"2012-10-17"' })),
  'MalformedPolicyDocumentException');
  assert.ok(bad.message.length > 5, bad.message);
});

test('read-only user reads, cannot write, delete or open a ReadWrite session', async () => {
  await iam.send(new CreateUserCommand({ UserName: 'js-reader' }));
  await iam.send(new AttachUserPolicyCommand({
    UserName: 'js-reader', PolicyArn: 'arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess' }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'js-reader' }))).AccessKey;
  const creds = { accessKeyId: k.AccessKeyId, secretAccessKey: k.SecretAccessKey };
  const s3 = client(S3Client, creds);
  const o = await s3.send(new GetObjectCommand({ Bucket: GP, Key: 'k' }));
  assert.equal(await o.Body.transformToString(), 'hello');
  const e = await rejectsWith(s3.send(new PutObjectCommand({ Bucket: GP, Key: 'x', Body: 'x' })),
    'AccessDenied');
  assert.match(e.message, /is not authorized to perform: s3:PutObject/);
  await rejectsWith(s3.send(new DeleteObjectCommand({ Bucket: GP, Key: 'k' })), 'AccessDenied');
  await rejectsWith(s3.send(new CreateSessionCommand({ Bucket: DIR, SessionMode: 'ReadWrite' })),
    'AccessDenied');
  await rejectsWith(client(IAMClient, creds).send(new GetUserCommand({ UserName: 'js-reader' })),
    'AccessDenied');
  const who = await client(STSClient, creds).send(new GetCallerIdentityCommand({}));
  assert.equal(who.Arn, `arn:aws:iam::${ACCOUNT}:user/js-reader`);
});

test('AssumeRole: refused by one trust policy, allowed by another', async () => {
  await iam.send(new CreateUserCommand({ UserName: 'js-assumer' }));
  await iam.send(new PutUserPolicyCommand({
    UserName: 'js-assumer', PolicyName: 'assume',
    PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{
      Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }] }) }));
  const k = (await iam.send(new CreateAccessKeyCommand({ UserName: 'js-assumer' }))).AccessKey;
  const sts = client(STSClient, { accessKeyId: k.AccessKeyId, secretAccessKey: k.SecretAccessKey });
  await iam.send(new CreateRoleCommand({
    RoleName: 'js-nobody',
    AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{
      Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }] }),
  }));
  await iam.send(new CreateRoleCommand({
    RoleName: 'js-writer',
    AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{
      Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/js-assumer` },
      Action: 'sts:AssumeRole' }] }),
  }));
  await iam.send(new PutRolePolicyCommand({
    RoleName: 'js-writer', PolicyName: 'w',
    PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{
      Effect: 'Allow', Action: ['s3:PutObject', 's3:GetObject'], Resource: `arn:aws:s3:::${GP}/*` }] }),
  }));
  await rejectsWith(sts.send(new AssumeRoleCommand({
    RoleArn: `arn:aws:iam::${ACCOUNT}:role/js-nobody`, RoleSessionName: 'js' })), 'AccessDenied');
  const r = await sts.send(new AssumeRoleCommand({
    RoleArn: `arn:aws:iam::${ACCOUNT}:role/js-writer`, RoleSessionName: 'js' }));
  assert.equal(r.AssumedRoleUser.Arn, `arn:aws:sts::${ACCOUNT}:assumed-role/js-writer/js`);
  const c = r.Credentials;
  const s3 = client(S3Client, {
    accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken });
  await s3.send(new PutObjectCommand({ Bucket: GP, Key: 'from-role', Body: 'role' }));
  const o = await s3.send(new GetObjectCommand({ Bucket: GP, Key: 'from-role' }));
  assert.equal(await o.Body.transformToString(), 'role');
  await rejectsWith(s3.send(new DeleteObjectCommand({ Bucket: GP, Key: 'from-role' })),
    'AccessDenied');
});
