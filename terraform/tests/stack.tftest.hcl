# Offline: the AWS provider is mocked, so the whole stack is "applied" without credentials.
mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  # Mocked values must still look like ARNs where the provider checks them.
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/pynomaly" }
  }
  mock_resource "aws_sqs_queue" {
    defaults = {
      arn = "arn:aws:sqs:us-east-1:123456789012:pynomaly-jobs"
      url = "https://sqs.us-east-1.amazonaws.com/123456789012/pynomaly-jobs"
    }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::pynomaly-data" }
  }
  mock_resource "aws_dynamodb_table" {
    defaults = { arn = "arn:aws:dynamodb:us-east-1:123456789012:table/pynomaly-jobs" }
  }
  mock_resource "aws_lambda_function" {
    defaults = {
      arn        = "arn:aws:lambda:us-east-1:123456789012:function:pynomaly"
      invoke_arn = "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:pynomaly/invocations"
    }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/apigateway/pynomaly-api" }
  }
  mock_resource "aws_apigatewayv2_api" {
    defaults = { execution_arn = "arn:aws:execute-api:us-east-1:123456789012:abc123" }
  }
}

run "stack" {
  command = apply

  assert {
    condition     = length(aws_lambda_function.function) == 3
    error_message = "three functions: api, batch, ingest"
  }
  assert {
    condition     = alltrue([for f in aws_lambda_function.function : f.runtime == "provided.al2023" && f.handler == "bootstrap" && f.architectures[0] == "arm64"])
    error_message = "functions run the bootstrap on provided.al2023, arm64"
  }
  assert {
    condition     = one(aws_s3_bucket_notification.incoming.lambda_function).filter_prefix == "incoming/"
    error_message = "only incoming/ notifies the ingest function"
  }
  assert {
    condition     = aws_lambda_event_source_mapping.batch.function_response_types == toset(["ReportBatchItemFailures"])
    error_message = "the batch function reports partial batch failures"
  }
  assert {
    condition     = jsondecode(aws_sqs_queue.jobs.redrive_policy).maxReceiveCount == 5
    error_message = "messages go to the dead-letter queue after 5 receives"
  }
  assert {
    condition     = aws_dynamodb_table.jobs.billing_mode == "PAY_PER_REQUEST" && aws_dynamodb_table.jobs.point_in_time_recovery[0].enabled
    error_message = "the job table is on demand with point-in-time recovery"
  }
  assert {
    condition     = aws_s3_bucket_public_access_block.data.block_public_acls && aws_s3_bucket_public_access_block.data.restrict_public_buckets
    error_message = "the bucket is private"
  }
  assert {
    condition     = length([for k, a in aws_cloudwatch_metric_alarm.alarm : k if a.metric_name == "Errors"]) == 3
    error_message = "an error alarm per function"
  }
  assert {
    condition     = one(aws_lambda_function.function["ingest"].dead_letter_config).target_arn == aws_sqs_queue.ingest_dead_letter.arn && length(aws_lambda_function.function["api"].dead_letter_config) == 0
    error_message = "S3 events the ingest function fails on go to its dead-letter queue"
  }
  assert {
    condition     = one(aws_apigatewayv2_stage.default.access_log_settings).destination_arn == aws_cloudwatch_log_group.api_access.arn && aws_cloudwatch_log_group.api_access.retention_in_days == 365
    error_message = "API access logs go to a log group kept for a year"
  }
  assert {
    condition     = length(aws_apigatewayv2_authorizer.jwt) == 0 && aws_apigatewayv2_route.default.authorization_type == "NONE"
    error_message = "no JWT authorizer unless an issuer is given"
  }
}

run "jwt_authorizer_when_an_issuer_is_given" {
  command = apply
  variables {
    jwt_issuer   = "https://issuer.example.com"
    jwt_audience = ["client-a"]
  }
  assert {
    condition     = length(aws_apigatewayv2_authorizer.jwt) == 1 && aws_apigatewayv2_authorizer.jwt[0].jwt_configuration[0].issuer == "https://issuer.example.com"
    error_message = "a JWT issuer adds a JWT authorizer"
  }
  assert {
    condition     = aws_apigatewayv2_route.default.authorization_type == "JWT"
    error_message = "the default route requires the JWT"
  }
}

run "rejects_an_unknown_architecture" {
  command = plan
  variables {
    architecture = "sparc"
  }
  expect_failures = [var.architecture]
}
