import json
import os

import sam_sync_test_upstream


def lambda_handler(event, context):
    """Say hello through the upstream library."""
    target = os.environ.get("GREETING_TARGET", "world")
    return {
        "statusCode": 200,
        "body": json.dumps({"message": sam_sync_test_upstream.greeting(target)}),
    }
