# A python3.x handler for test_fn: runs under quarry's Python runtime (runtimes/python).
import os


def lambda_handler(event, context):
    if event.get("op") == "oom":
        hog = bytearray(1024 * 1024 * 1024)  # 1 GiB with MemorySize 128: killed by the cgroup
        return len(hog)
    print("py line", event.get("k"))
    return {"k": event.get("k"), "pid": os.getpid(), "rid": context.aws_request_id,
            "task": os.environ.get("LAMBDA_TASK_ROOT")}
