# The function of AWS's walkthrough "Automate object processing in Amazon S3 directory
# buckets with S3 Batch Operations and AWS Lambda" (AWS Storage Blog): it copies every
# task's object into MyDestinationBucket under MyDestinationPrefix with
# MyDestinationObjectKeySuffix appended, and reports a resultCode per task. Plain boto3:
# quarry's Lambda points it at quarry through AWS_ENDPOINT_URL.
import boto3
import logging
import urllib.parse
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

s3 = boto3.client('s3')


def lambda_handler(event, context):
    # Parse job parameters from Amazon S3 batch operations
    invocation_id = event['invocationId']
    invocation_schema_version = event['invocationSchemaVersion']

    # Parse the user arguments passed by the job
    user_arguments = event['job']['userArguments']
    destination_bucket = user_arguments['MyDestinationBucket']
    destination_prefix = user_arguments['MyDestinationPrefix']
    destination_suffix = user_arguments['MyDestinationObjectKeySuffix']

    results = []
    for task in event['tasks']:
        task_id = task['taskId']
        # The manifest's keys are URL-encoded
        source_key = urllib.parse.unquote_plus(task['s3Key'], encoding='utf-8')
        source_bucket = task['s3Bucket']
        new_key = destination_prefix + source_key + destination_suffix
        try:
            response = s3.copy_object(
                Bucket=destination_bucket,
                Key=new_key,
                CopySource={'Bucket': source_bucket, 'Key': source_key})
            result_code = 'Succeeded'
            result_string = f"Copied to {destination_bucket}/{new_key}: " \
                            f"{response['CopyObjectResult']['ETag']}"
        except ClientError as e:
            error_code = e.response['Error']['Code']
            error_message = e.response['Error']['Message']
            if error_code == 'RequestTimeout':
                result_code = 'TemporaryFailure'
                result_string = f"Retry request to Amazon S3 due to timeout."
            else:
                result_code = 'PermanentFailure'
                result_string = f"{error_code}: {error_message}"
            logger.exception(result_string)
        except Exception as e:
            result_code = 'PermanentFailure'
            result_string = f"Exception: {e}"
            logger.exception(result_string)
        finally:
            results.append({
                'taskId': task_id,
                'resultCode': result_code,
                'resultString': result_string,
            })

    return {
        'invocationSchemaVersion': invocation_schema_version,
        'treatMissingKeysAs': 'PermanentFailure',
        'invocationId': invocation_id,
        'results': results,
    }
