/*
 * managed_policies.c - the AWS managed policies people attach with S3, Lambda and Batch
 * Operations, known by ARN, with the statements AWS publishes for their default version
 * (AWS Managed Policy Reference, as known on 2026-12-07; the version and last edit date
 * are noted with each). Static data only: the IAM API serves these texts and the
 * authorization point parses them like any customer policy.
 *
 * S3 Batch Operations has no managed policy for job roles; AWS's documentation has users
 * write their own, so none is listed here.
 */
#include <string.h>

#include "auth/policy.h"

struct managed {
    const char *arn;
    const char *doc;
};

static const struct managed managed[] = {
    /* v1, 2015-04-09 */
    {"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":["
     "\"logs:CreateLogGroup\",\"logs:CreateLogStream\",\"logs:PutLogEvents\"],"
     "\"Resource\":\"*\"}]}"},
    /* v1, 2015-02-06 */
    {"arn:aws:iam::aws:policy/service-role/AWSLambdaRole",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":["
     "\"lambda:InvokeFunction\"],\"Resource\":[\"*\"]}]}"},
    /* v1, 2015-02-06 */
    {"arn:aws:iam::aws:policy/AWSLambdaExecute",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"logs:*\"],"
     "\"Resource\":\"arn:aws:logs:*:*:*\"},{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\","
     "\"s3:PutObject\"],\"Resource\":\"arn:aws:s3:::*\"}]}"},
    /* v2, 2025-03-17 */
    {"arn:aws:iam::aws:policy/AWSLambda_FullAccess",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":["
     "\"cloudformation:DescribeStacks\",\"cloudformation:ListStackResources\","
     "\"cloudwatch:ListMetrics\",\"cloudwatch:GetMetricData\",\"ec2:DescribeSecurityGroups\","
     "\"ec2:DescribeSubnets\",\"ec2:DescribeVpcs\",\"kms:ListAliases\",\"iam:GetPolicy\","
     "\"iam:GetPolicyVersion\",\"iam:GetRole\",\"iam:GetRolePolicy\","
     "\"iam:ListAttachedRolePolicies\",\"iam:ListRolePolicies\",\"iam:ListRoles\","
     "\"lambda:*\",\"logs:DescribeLogGroups\",\"states:DescribeStateMachine\","
     "\"states:ListStateMachines\",\"tag:GetResources\",\"xray:GetTraceSummaries\","
     "\"xray:BatchGetTraces\"],\"Resource\":\"*\"},{\"Effect\":\"Allow\",\"Action\":"
     "\"iam:PassRole\",\"Resource\":\"*\",\"Condition\":{\"StringEquals\":{"
     "\"iam:PassedToService\":\"lambda.amazonaws.com\"}}},{\"Effect\":\"Allow\",\"Action\":["
     "\"logs:DescribeLogStreams\",\"logs:GetLogEvents\",\"logs:FilterLogEvents\","
     "\"logs:StartLiveTail\",\"logs:StopLiveTail\"],"
     "\"Resource\":\"arn:aws:logs:*:*:log-group:/aws/lambda/*\"}]}"},
    /* v2, 2021-09-27 */
    {"arn:aws:iam::aws:policy/AmazonS3FullAccess",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:*\","
     "\"s3-object-lambda:*\"],\"Resource\":\"*\"}]}"},
    /* v3, 2023-08-10 */
    {"arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":["
     "\"s3:Get*\",\"s3:List*\",\"s3:Describe*\",\"s3-object-lambda:Get*\","
     "\"s3-object-lambda:List*\"],\"Resource\":\"*\"}]}"},
    /* v1, 2026-04-03 */
    {"arn:aws:iam::aws:policy/AmazonS3ExpressFullAccess",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"S3ExpressFullAccess\","
     "\"Effect\":\"Allow\",\"Action\":\"s3express:*\",\"Resource\":\"*\"}]}"},
    /* v1, 2021-08-18 */
    {"arn:aws:iam::aws:policy/service-role/AmazonS3ObjectLambdaExecutionRolePolicy",
     "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Action\":["
     "\"logs:CreateLogGroup\",\"logs:CreateLogStream\",\"logs:PutLogEvents\","
     "\"s3-object-lambda:WriteGetObjectResponse\"],\"Resource\":\"*\"}]}"},
};

#define N_MANAGED (sizeof(managed) / sizeof(managed[0]))

const char *policy_managed_document(const char *arn)
{
    if (!arn)
        return NULL;
    for (size_t i = 0; i < N_MANAGED; i++)
        if (strcmp(managed[i].arn, arn) == 0)
            return managed[i].doc;
    return NULL;
}

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

const char *const *policy_managed_list(size_t *out_n)
{
    *out_n = N_MANAGED;
    return managed_arns;
}
