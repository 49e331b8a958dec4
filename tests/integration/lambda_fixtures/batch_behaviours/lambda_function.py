"""lambda_function.py - a Batch Operations function whose answer depends on the task's key,
so one job can provoke every case AWS documents for LambdaInvoke results:

  ok/...       Succeeded, resultString = the key as received (URL-encoded) + schema version
               (and the version id as received)
  big/...      Succeeded with a resultString of 10,000 characters (cut to 1024)
  slow/...     sleeps 0.1 s, then Succeeded
  temp/...     TemporaryFailure (the job retries it, then records it failed)
  perm/...     PermanentFailure with a resultString of 2000 characters (cut to 1024)
  missing/...  answers without a result for the task (treatMissingKeysAs applies)
  raise/...    raises: a function error
  crash/...    the process exits: a function error (Runtime.ExitError)
  timeout/...  sleeps past the function's Timeout
  garbage/...  returns a string, not the response document
"""
import json
import os
import time


def lambda_handler(event, context):
    results = []
    out = {'invocationSchemaVersion': event['invocationSchemaVersion'],
           'invocationId': event['invocationId']}
    for task in event['tasks']:
        key = task['s3Key']
        kind = key.split('%2F', 1)[0].split('/', 1)[0]
        if kind == 'slow':
            time.sleep(0.1)
        elif kind == 'raise':
            raise ValueError('boom from ' + key)
        elif kind == 'crash':
            os._exit(3)
        elif kind == 'timeout':
            time.sleep(30)
        elif kind == 'garbage':
            return 'this is not a response'
        elif kind == 'missing':
            out['treatMissingKeysAs'] = 'PermanentFailure'
            continue
        if kind == 'temp':
            results.append({'taskId': task['taskId'], 'resultCode': 'TemporaryFailure',
                            'resultString': 'try again'})
        elif kind == 'perm':
            results.append({'taskId': task['taskId'], 'resultCode': 'PermanentFailure',
                            'resultString': 'x' * 2000})
        elif kind == 'big':
            results.append({'taskId': task['taskId'], 'resultCode': 'Succeeded',
                            'resultString': 'y' * 10000})
        else:
            bucket = task.get('s3Bucket') or task.get('s3BucketArn')
            results.append({'taskId': task['taskId'], 'resultCode': 'Succeeded',
                            'resultString': json.dumps({'key': key, 'bucket': bucket,
                                                        'v': event['invocationSchemaVersion'],
                                                        'args': event['job'].get('userArguments'),
                                                        'ntasks': len(event['tasks']),
                                                        'version': task.get('s3VersionId')})})
    out['results'] = results
    return out
