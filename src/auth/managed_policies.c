/*
 * managed_policies.c - the AWS managed policies people attach with S3, Lambda and S3
 * Express, known by ARN, with the statements, dates and descriptions AWS publishes for
 * their default version (AWS Managed Policy Reference, as known on 2026-12-07).
 * Static data only: the IAM API serves these texts and the authorization point parses
 * them like any customer policy.
 *
 * S3 Batch Operations has no managed policy for job roles; AWS's documentation has users
 * write their own, so none is listed here. The reference gives times to the minute (seconds
 * here are 00). AmazonS3FullAccess's text (v2) and its update date (from the S3 guide's
 * change history, time unknown) were not re-read from its reference page.
 */
#include <string.h>

#include "auth/policy.h"

#define LAMBDA_FULL                                                                                \
    "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":["                \
    "\"cloudformation:DescribeStacks\",\"cloudformation:ListStackResources\","                     \
    "\"cloudwatch:ListMetrics\",\"cloudwatch:GetMetricData\",\"ec2:DescribeSecurityGroups\","      \
    "\"ec2:DescribeSubnets\",\"ec2:DescribeVpcs\",\"kms:ListAliases\",\"iam:GetPolicy\","          \
    "\"iam:GetPolicyVersion\",\"iam:GetRole\",\"iam:GetRolePolicy\","                              \
    "\"iam:ListAttachedRolePolicies\",\"iam:ListRolePolicies\",\"iam:ListRoles\","                 \
    "\"lambda:*\",\"logs:DescribeLogGroups\",\"states:DescribeStateMachine\","                     \
    "\"states:ListStateMachines\",\"tag:GetResources\",\"xray:GetTraceSummaries\","                \
    "\"xray:BatchGetTraces\"],\"Resource\":\"*\"},{\"Effect\":\"Allow\",\"Action\":"               \
    "\"iam:PassRole\",\"Resource\":\"*\",\"Condition\":{\"StringEquals\":{"                        \
    "\"iam:PassedToService\":\"lambda.amazonaws.com\"}}},{\"Effect\":\"Allow\",\"Action\":["       \
    "\"logs:DescribeLogStreams\",\"logs:GetLogEvents\",\"logs:FilterLogEvents\","                  \
    "\"logs:StartLiveTail\",\"logs:StopLiveTail\"],"                                               \
    "\"Resource\":\"arn:aws:logs:*:*:log-group:/aws/lambda/*\"}]}"

static const struct policy_managed managed[] = {
    {"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
     "AWSLambdaBasicExecutionRole", "/service-role/", "v1", "2015-04-09T15:03:00Z",
     "2015-04-09T15:03:00Z", "Provides write permissions to CloudWatch Logs.",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":["
     "\"logs:CreateLogGroup\",\"logs:CreateLogStream\",\"logs:PutLogEvents\"],"
     "\"Resource\":\"*\"}]}"},
    {"arn:aws:iam::aws:policy/service-role/AWSLambdaRole", "AWSLambdaRole", "/service-role/", "v1",
     "2015-02-06T18:41:00Z", "2015-02-06T18:41:00Z", "Default policy for AWS Lambda service role.",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":["
     "\"lambda:InvokeFunction\"],\"Resource\":[\"*\"]}]}"},
    {"arn:aws:iam::aws:policy/AWSLambdaExecute", "AWSLambdaExecute", "/", "v1",
     "2015-02-06T18:40:00Z", "2015-02-06T18:40:00Z",
     "Provides Put, Get access to S3 and full access to CloudWatch Logs.",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"logs:*\"],"
     "\"Resource\":\"arn:aws:logs:*:*:*\"},{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\","
     "\"s3:PutObject\"],\"Resource\":\"arn:aws:s3:::*\"}]}"},
    {"arn:aws:iam::aws:policy/AWSLambda_FullAccess", "AWSLambda_FullAccess", "/", "v2",
     "2020-11-17T21:14:00Z", "2025-03-17T21:37:00Z",
     "Grants full access to AWS Lambda service, AWS Lambda console features, and other related "
     "AWS services.",
     LAMBDA_FULL},
    {"arn:aws:iam::aws:policy/AmazonS3FullAccess", "AmazonS3FullAccess", "/", "v2",
     "2015-02-06T18:40:00Z", "2021-09-27T00:00:00Z",
     "Provides full access to all buckets via the AWS Management Console.",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:*\","
     "\"s3-object-lambda:*\"],\"Resource\":\"*\"}]}"},
    {"arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess", "AmazonS3ReadOnlyAccess", "/", "v3",
     "2015-02-06T18:40:00Z", "2023-08-10T21:31:00Z",
     "Provides read only access to all buckets via the AWS Management Console.",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":["
     "\"s3:Get*\",\"s3:List*\",\"s3:Describe*\",\"s3-object-lambda:Get*\","
     "\"s3-object-lambda:List*\"],\"Resource\":\"*\"}]}"},
    {"arn:aws:iam::aws:policy/AmazonS3ExpressFullAccess", "AmazonS3ExpressFullAccess", "/", "v1",
     "2026-04-03T20:42:00Z", "2026-04-03T20:42:00Z",
     "Provides full access to all S3 directory buckets.",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"S3ExpressFullAccess\","
     "\"Effect\":\"Allow\",\"Action\":\"s3express:*\",\"Resource\":\"*\"}]}"},
    {"arn:aws:iam::aws:policy/service-role/AmazonS3ObjectLambdaExecutionRolePolicy",
     "AmazonS3ObjectLambdaExecutionRolePolicy", "/service-role/", "v1", "2021-08-18T10:07:00Z",
     "2021-08-18T10:07:00Z",
     "Provides AWS Lambda functions permissions to interact with Amazon S3 Object Lambda. Also "
     "grants Lambda permissions to write to CloudWatch Logs.",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":["
     "\"logs:CreateLogGroup\",\"logs:CreateLogStream\",\"logs:PutLogEvents\","
     "\"s3-object-lambda:WriteGetObjectResponse\"],\"Resource\":\"*\"}]}"},
};

#define N_MANAGED (sizeof(managed) / sizeof(managed[0]))

static const char *const managed_arns[N_MANAGED] = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    "arn:aws:iam::aws:policy/service-role/AWSLambdaRole",
    "arn:aws:iam::aws:policy/AWSLambdaExecute",
    "arn:aws:iam::aws:policy/AWSLambda_FullAccess",
    "arn:aws:iam::aws:policy/AmazonS3FullAccess",
    "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
    "arn:aws:iam::aws:policy/AmazonS3ExpressFullAccess",
    "arn:aws:iam::aws:policy/service-role/AmazonS3ObjectLambdaExecutionRolePolicy",
};

const struct policy_managed *policy_managed_find(const char *arn)
{
    if (!arn)
        return NULL;
    for (size_t i = 0; i < N_MANAGED; i++)
        if (strcmp(managed[i].arn, arn) == 0)
            return &managed[i];
    return NULL;
}

const char *policy_managed_document(const char *arn)
{
    const struct policy_managed *m = policy_managed_find(arn);
    return m ? m->document : NULL;
}

const struct policy_managed *policy_managed_all(size_t *out_n)
{
    *out_n = N_MANAGED;
    return managed;
}

const char *const *policy_managed_list(size_t *out_n)
{
    *out_n = N_MANAGED;
    return managed_arns;
}
