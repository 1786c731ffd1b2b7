"""AWS adapters: S3 objects, the DynamoDB ledger, SQS dead letters, Secrets Manager credentials."""
