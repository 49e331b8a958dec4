#!/bin/sh
# run-banner.sh - what a `make run` user needs to point a client at quarry: the endpoint,
# region and root keys (from QUARRY_ROOT_ACCESS_KEY / QUARRY_ROOT_SECRET_KEY, or the
# server's defaults), and a copy-paste export line for the aws CLI and SDKs.
# The endpoint is the IP literal on purpose: with `localhost`, clients address directory
# buckets virtual-hosted (<bucket>.localhost), which does not resolve everywhere.
ENDPOINT="http://127.0.0.1:${QUARRY_PORT:-9000}"
# S3 Control (Batch Operations) clients send to <account>.<endpoint host>: they need a host
# name, and *.localhost resolving to loopback (make deps enables it).
CONTROL_ENDPOINT="http://localhost:${QUARRY_PORT:-9000}"
REGION="us-east-1"
AK="${QUARRY_ROOT_ACCESS_KEY:-quarry}"
SK="${QUARRY_ROOT_SECRET_KEY:-quarry-secret-key}"

cat <<BANNER
quarry - S3 (general purpose + directory buckets), Lambda and CloudWatch Logs on one port
  endpoint    $ENDPOINT   (use 127.0.0.1, not localhost)
  region      $REGION
  access key  $AK
  secret key  $SK
  account     123456789012

aws CLI / boto3 / SDK v3 - paste into your shell:
  export AWS_ENDPOINT_URL=$ENDPOINT AWS_ENDPOINT_URL_S3_CONTROL=$CONTROL_ENDPOINT AWS_ACCESS_KEY_ID=$AK AWS_SECRET_ACCESS_KEY=$SK AWS_DEFAULT_REGION=$REGION AWS_REGION=$REGION
  (S3 Control - aws s3control, Batch Operations jobs - goes to $CONTROL_ENDPOINT: its
   clients put the account in front of the host, 123456789012.localhost)

then e.g.
  aws s3api create-bucket --bucket media--use1-az4--x-s3 --create-bucket-configuration '{"Location":{"Type":"AvailabilityZone","Name":"use1-az4"},"Bucket":{"DataRedundancy":"SingleAvailabilityZone","Type":"Directory"}}'
  aws s3 cp ./photos s3://media--use1-az4--x-s3/photos/ --recursive
BANNER
cat <<BANNER2
  aws lambda create-function --function-name f --zip-file fileb://f.zip \\
    --handler lambda_function.lambda_handler --runtime python3.11 --role arn:aws:iam::123456789012:role/r
BANNER2
