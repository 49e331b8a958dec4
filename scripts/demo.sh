#!/usr/bin/env bash
# demo.sh - the AWS walkthrough "Automate object processing in Amazon S3 directory buckets
# with S3 Batch Operations and AWS Lambda", run with the stock aws CLI against a fresh
# quarry (temporary data directory, free port), printing each command and what it did.
#
#   make demo            (builds first)      BUILD=build scripts/demo.sh
#
# Only the endpoints differ from AWS's page: AWS_ENDPOINT_URL for S3 and Lambda,
# AWS_ENDPOINT_URL_S3_CONTROL=http://localhost:PORT for S3 Control (its clients put the
# account id in front of the host).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
FIXTURE=tests/integration/lambda_fixtures/batch_walkthrough/lambda_function.py
ACCOUNT=123456789012

work=$(mktemp -d /tmp/quarry-demo.XXXXXX)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

mkfifo "$work/out"
"$BUILD/quarry" serve --port 0 --data "$work/data" --access-log "$work/access.log" \
    >"$work/out" 2>"$work/server.err" &
pid=$!
exec 3<"$work/out"
port=
while IFS= read -r -t 30 line <&3; do
    case "$line" in "quarry listening on http://"*) port=${line##*:}; break ;; esac
done
[ -n "$port" ] || { echo "quarry did not start:"; cat "$work/server.err"; exit 1; }
cat <&3 >/dev/null &

export AWS_ACCESS_KEY_ID=quarry AWS_SECRET_ACCESS_KEY=quarry-secret-key
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ENDPOINT_URL_S3_CONTROL=http://localhost:$port
echo "quarry on port $port (data in a temporary directory)"
echo "export AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3_CONTROL=$AWS_ENDPOINT_URL_S3_CONTROL"

run() { printf '\n$ %s\n' "$*"; "$@"; }

SRC=source--use1-az4--x-s3
DST=destination--use1-az4--x-s3
DIRCFG='{"Location":{"Type":"AvailabilityZone","Name":"use1-az4"},"Bucket":{"DataRedundancy":"SingleAvailabilityZone","Type":"Directory"}}'
cd "$work"
run aws s3api create-bucket --bucket "$SRC" --create-bucket-configuration "$DIRCFG" >/dev/null
run aws s3api create-bucket --bucket "$DST" --create-bucket-configuration "$DIRCFG" >/dev/null
run aws s3api create-bucket --bucket manifests >/dev/null
run aws s3api create-bucket --bucket reports >/dev/null

mkdir photos
for k in a b c d e; do echo "photo $k" > "photos/$k.jpg"; done
run aws s3 cp photos "s3://$SRC/photos/" --recursive --only-show-errors

# The manifest: one `bucket,key` line per object, keys URL-encoded.
for k in a b c d e; do echo "$SRC,photos/$k.jpg"; done > manifest.csv
run aws s3 cp manifest.csv s3://manifests/manifest.csv --only-show-errors
etag=$(aws s3api head-object --bucket manifests --key manifest.csv --query ETag --output text)

# The walkthrough's IAM: the function's role (trusted by Lambda, S3 Express sessions on
# both buckets), and the job's role (trusted by Batch Operations, allowed to invoke the
# function, read the manifest and write the report).
cat > trust-policy.json <<'JSON'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}
JSON
cat > s3express-policy-for-lambda.json <<JSON
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3express:CreateSession","Resource":["arn:aws:s3express:us-east-1:$ACCOUNT:bucket/$SRC","arn:aws:s3express:us-east-1:$ACCOUNT:bucket/$DST"]}]}
JSON
cat > batch-trust-policy.json <<'JSON'
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"batchoperations.s3.amazonaws.com"},"Action":"sts:AssumeRole"}]}
JSON
cat > batch-ops-policy.json <<JSON
{"Version":"2012-10-17","Statement":[
 {"Effect":"Allow","Action":"lambda:InvokeFunction","Resource":"arn:aws:lambda:us-east-1:$ACCOUNT:function:s3batchops-function*"},
 {"Effect":"Allow","Action":["s3:GetObject","s3:GetObjectVersion"],"Resource":"arn:aws:s3:::manifests/*"},
 {"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::reports/*"}]}
JSON
run aws iam create-role --role-name lambda-ex --assume-role-policy-document file://trust-policy.json \
    --query Role.Arn --output text
run aws iam attach-role-policy --role-name lambda-ex \
    --policy-arn arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole
run aws iam put-role-policy --role-name lambda-ex --policy-name s3express-policy-for-lambda \
    --policy-document file://s3express-policy-for-lambda.json
run aws iam create-role --role-name batch-ops --assume-role-policy-document file://batch-trust-policy.json \
    --query Role.Arn --output text
run aws iam put-role-policy --role-name batch-ops --policy-name batch-ops-policy \
    --policy-document file://batch-ops-policy.json

cp "$OLDPWD/$FIXTURE" lambda_function.py
python3 -m zipfile -c function.zip lambda_function.py
run aws lambda create-function --function-name s3batchops-function \
    --zip-file fileb://function.zip --handler lambda_function.lambda_handler \
    --runtime python3.11 --timeout 60 --role "arn:aws:iam::$ACCOUNT:role/lambda-ex" \
    --query '[FunctionArn,State]' --output text

op='{"LambdaInvoke":{"FunctionArn":"arn:aws:lambda:us-east-1:'$ACCOUNT':function:s3batchops-function","InvocationSchemaVersion":"2.0","UserArguments":{"MyDestinationBucket":"'$DST'","MyDestinationBucketRegion":"us-east-1","MyDestinationPrefix":"copied/","MyDestinationObjectKeySuffix":"_new_suffix"}}}'
manifest='{"Spec":{"Format":"S3BatchOperations_CSV_20180820","Fields":["Bucket","Key"]},"Location":{"ObjectArn":"arn:aws:s3:::manifests/manifest.csv","ETag":'$etag'}}'
report='{"Bucket":"arn:aws:s3:::reports","Format":"Report_CSV_20180820","Enabled":true,"Prefix":"ReportPrefix","ReportScope":"AllTasks"}'
printf '\n$ aws s3control create-job --account-id %s --operation ... --manifest ... --report ... --priority 1 --role-arn ... --no-confirmation-required\n' "$ACCOUNT"
job=$(aws s3control create-job --account-id "$ACCOUNT" --operation "$op" --manifest "$manifest" \
    --priority 1 --role-arn "arn:aws:iam::$ACCOUNT:role/batch-ops" --no-confirmation-required \
    --report "$report" --query JobId --output text)
echo "JobId: $job"

printf '\n$ aws s3control describe-job --account-id %s --job-id %s   (until it ends)\n' "$ACCOUNT" "$job"
status=
for _ in $(seq 1 600); do
    line=$(aws s3control describe-job --account-id "$ACCOUNT" --job-id "$job" \
        --query 'Job.[Status,ProgressSummary.TotalNumberOfTasks,ProgressSummary.NumberOfTasksSucceeded,ProgressSummary.NumberOfTasksFailed]' \
        --output text)
    read -r status total ok failed <<<"$line"
    printf '  %-10s tasks %s, succeeded %s, failed %s\n' "$status" "$total" "$ok" "$failed"
    case "$status" in Complete|Failed|Cancelled) break ;; esac
    sleep 0.2 # a person's polling interval, not synchronisation
done

run aws s3api list-objects-v2 --bucket "$DST" --prefix copied/ --query 'Contents[].Key' --output text
run aws s3api list-objects-v2 --bucket reports --prefix "ReportPrefix/job-$job/" --query 'Contents[].Key' --output text
for key in $(aws s3api list-objects-v2 --bucket reports --prefix "ReportPrefix/job-$job/results/" --query 'Contents[].Key' --output text); do
    run aws s3 cp "s3://reports/$key" -
done
[ "$status" = Complete ] || { echo "job ended $status"; exit 1; }
echo
echo "done: job $job is Complete; every object is in s3://$DST/copied/ with _new_suffix"
