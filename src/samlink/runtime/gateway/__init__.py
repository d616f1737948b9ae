"""A local API Gateway (REST payload 1.0, HTTP API payload 2.0) and Lambda function URLs."""
