data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  bucket_name = "${var.name}-data-${data.aws_caller_identity.current.account_id}-${data.aws_region.current.name}"
  functions = {
    api    = { memory = 1024, timeout = 30, description = "Pynomaly HTTP API" }
    batch  = { memory = 1024, timeout = 900, description = "Pynomaly SQS batch scoring" }
    ingest = { memory = 512, timeout = 300, description = "Pynomaly S3 drop folder" }
  }
  environment = {
    PYNOMALY_STORE         = "aws"
    PYNOMALY_BUCKET        = local.bucket_name
    PYNOMALY_TABLE         = aws_dynamodb_table.jobs.name
    PYNOMALY_QUEUE_URL     = aws_sqs_queue.jobs.url
    PYNOMALY_MAX_RECEIVES  = tostring(var.max_receives)
    PYNOMALY_INGEST_TENANT = var.ingest_tenant
    PYNOMALY_CHUNK_BYTES   = tostring(var.chunk_bytes)
    # Matrix products on the invoking thread (matrixmultiply's own pool would spin).
    MATMUL_NUM_THREADS = "1"
  }
}

# --- Data bucket: encrypted, versioned, private, TLS only. --------------------------------

resource "aws_s3_bucket" "data" {
  bucket = local.bucket_name
}

resource "aws_s3_bucket_server_side_encryption_configuration" "data" {
  bucket = aws_s3_bucket.data.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "data" {
  bucket = aws_s3_bucket.data.id
  versioning_configuration {
    status = "Enabled"
  }
}

# Versioning keeps overwritten results; old versions and abandoned uploads expire.
resource "aws_s3_bucket_lifecycle_configuration" "data" {
  bucket = aws_s3_bucket.data.id
  rule {
    id     = "expire-old-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }
}

resource "aws_s3_bucket_public_access_block" "data" {
  bucket                  = aws_s3_bucket.data.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_policy" "data_tls_only" {
  bucket = aws_s3_bucket.data.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.data.arn, "${aws_s3_bucket.data.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
}

# --- Job records and the queue. ---------------------------------------------------------

resource "aws_dynamodb_table" "jobs" {
  name         = "${var.name}-jobs"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  attribute {
    name = "pk"
    type = "S"
  }
  point_in_time_recovery {
    enabled = true
  }
  server_side_encryption {
    enabled = true
  }
}

resource "aws_sqs_queue" "dead_letter" {
  name                      = "${var.name}-jobs-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

# S3 invokes the ingest function asynchronously: an event it still fails on after Lambda's
# retries lands here instead of being dropped.
resource "aws_sqs_queue" "ingest_dead_letter" {
  name                      = "${var.name}-ingest-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "jobs" {
  name = "${var.name}-jobs"
  # Six times the batch function's timeout, as Lambda recommends for SQS sources.
  visibility_timeout_seconds = 5400
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter.arn
    maxReceiveCount     = var.max_receives
  })
}

# Stream points, the entity as message group: a FIFO queue keeps each entity's points in
# order; its dead-letter queue must be FIFO too.
resource "aws_sqs_queue" "points_dead_letter" {
  name                      = "${var.name}-points-dlq.fifo"
  fifo_queue                = true
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "points" {
  name                        = "${var.name}-points.fifo"
  fifo_queue                  = true
  content_based_deduplication = true
  visibility_timeout_seconds  = 5400
  sqs_managed_sse_enabled     = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.points_dead_letter.arn
    maxReceiveCount     = var.max_receives
  })
}

# --- Functions: one role each, least privilege. -----------------------------------------

data "aws_iam_policy_document" "assume_lambda" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "function" {
  for_each           = local.functions
  name               = "${var.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume_lambda.json
}

resource "aws_iam_role_policy_attachment" "logs" {
  for_each   = local.functions
  role       = aws_iam_role.function[each.key].name
  policy_arn = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

locals {
  send_jobs = { sid = "SendJobs", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.jobs.arn] }
  queue_access = {
    api = [local.send_jobs]
    batch = [{
      sid       = "ConsumeJobsAndPoints"
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
      resources = [aws_sqs_queue.jobs.arn, aws_sqs_queue.points.arn]
    }]
    ingest = [
      local.send_jobs,
      { sid = "DeadLetters", actions = ["sqs:SendMessage"], resources = [aws_sqs_queue.ingest_dead_letter.arn] },
    ]
  }
}

data "aws_iam_policy_document" "function" {
  for_each = local.functions
  statement {
    sid       = "Objects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"]
    resources = [aws_s3_bucket.data.arn, "${aws_s3_bucket.data.arn}/*"]
  }
  # Job records and stream states; listing them scans, deleting a stream deletes items.
  statement {
    sid       = "JobRecords"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Scan"]
    resources = [aws_dynamodb_table.jobs.arn]
  }
  # Queue access differs per function: api and ingest send jobs, ingest also sends its failed
  # S3 events to its dead-letter queue, batch consumes.
  dynamic "statement" {
    for_each = local.queue_access[each.key]
    content {
      sid       = statement.value.sid
      actions   = statement.value.actions
      resources = statement.value.resources
    }
  }
}

resource "aws_iam_role_policy" "function" {
  for_each = local.functions
  name     = "${var.name}-${each.key}"
  role     = aws_iam_role.function[each.key].id
  policy   = data.aws_iam_policy_document.function[each.key].json
}

resource "aws_lambda_function" "function" {
  for_each         = local.functions
  function_name    = "${var.name}-${each.key}"
  description      = each.value.description
  role             = aws_iam_role.function[each.key].arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  filename         = "${var.lambda_zip_dir}/pynomaly-${each.key}/bootstrap.zip"
  source_code_hash = try(filebase64sha256("${var.lambda_zip_dir}/pynomaly-${each.key}/bootstrap.zip"), null)
  memory_size      = each.value.memory
  timeout          = each.value.timeout
  tracing_config {
    mode = "Active"
  }
  logging_config {
    log_format = "JSON"
  }
  environment {
    variables = local.environment
  }
  dynamic "dead_letter_config" {
    for_each = each.key == "ingest" ? [1] : []
    content {
      target_arn = aws_sqs_queue.ingest_dead_letter.arn
    }
  }
}

# --- Event sources. ---------------------------------------------------------------------

resource "aws_lambda_event_source_mapping" "batch" {
  event_source_arn        = aws_sqs_queue.jobs.arn
  function_name           = aws_lambda_function.function["batch"].arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]
}

resource "aws_lambda_event_source_mapping" "points" {
  event_source_arn        = aws_sqs_queue.points.arn
  function_name           = aws_lambda_function.function["batch"].arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]
}

resource "aws_lambda_permission" "ingest_from_s3" {
  statement_id   = "AllowS3Invoke"
  action         = "lambda:InvokeFunction"
  function_name  = aws_lambda_function.function["ingest"].function_name
  principal      = "s3.amazonaws.com"
  source_arn     = aws_s3_bucket.data.arn
  source_account = data.aws_caller_identity.current.account_id
}

resource "aws_s3_bucket_notification" "incoming" {
  bucket = aws_s3_bucket.data.id
  lambda_function {
    lambda_function_arn = aws_lambda_function.function["ingest"].arn
    events              = ["s3:ObjectCreated:*"]
    # Only dropped files: results/ and error objects never trigger the function.
    filter_prefix = "incoming/"
  }
  depends_on = [aws_lambda_permission.ingest_from_s3]
}

resource "aws_apigatewayv2_api" "http" {
  name          = "${var.name}-api"
  protocol_type = "HTTP"
  description   = "Pynomaly HTTP API (authenticated by Pynomaly API keys)"
}

resource "aws_apigatewayv2_integration" "api" {
  api_id                 = aws_apigatewayv2_api.http.id
  integration_type       = "AWS_PROXY"
  integration_uri        = aws_lambda_function.function["api"].invoke_arn
  payload_format_version = "2.0"
}

# Optional: with a JWT issuer, API Gateway also requires a valid JWT in the Authorization
# header (the Pynomaly API key then goes in x-api-key).
resource "aws_apigatewayv2_authorizer" "jwt" {
  count            = var.jwt_issuer == "" ? 0 : 1
  api_id           = aws_apigatewayv2_api.http.id
  name             = "jwt"
  authorizer_type  = "JWT"
  identity_sources = ["$request.header.Authorization"]
  jwt_configuration {
    issuer   = var.jwt_issuer
    audience = var.jwt_audience
  }
}

resource "aws_apigatewayv2_route" "default" {
  api_id             = aws_apigatewayv2_api.http.id
  route_key          = "$default"
  target             = "integrations/${aws_apigatewayv2_integration.api.id}"
  authorization_type = var.jwt_issuer == "" ? "NONE" : "JWT"
  authorizer_id      = var.jwt_issuer == "" ? null : aws_apigatewayv2_authorizer.jwt[0].id
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = "/aws/apigateway/${var.name}-api"
  retention_in_days = 365
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.http.id
  name        = "$default"
  auto_deploy = true
  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId        = "$context.requestId"
      ip               = "$context.identity.sourceIp"
      requestTime      = "$context.requestTime"
      method           = "$context.httpMethod"
      path             = "$context.path"
      status           = "$context.status"
      responseLength   = "$context.responseLength"
      latencyMs        = "$context.responseLatency"
      integrationError = "$context.integrationErrorMessage"
    })
  }
}

resource "aws_lambda_permission" "api_from_gateway" {
  statement_id  = "AllowApiGatewayInvoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.function["api"].function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.http.execution_arn}/*"
}

# --- Alarms. ----------------------------------------------------------------------------

locals {
  # Every alarm fires on any value above zero over five minutes.
  alarms = merge(
    {
      dead-letter = {
        description = "Messages reached the dead-letter queue (their jobs say why)."
        namespace   = "AWS/SQS"
        metric      = "ApproximateNumberOfMessagesVisible"
        dimensions  = { QueueName = aws_sqs_queue.dead_letter.name }
        statistic   = "Maximum"
      }
      ingest-dead-letter = {
        description = "S3 events the ingest function gave up on (the files were not scored)."
        namespace   = "AWS/SQS"
        metric      = "ApproximateNumberOfMessagesVisible"
        dimensions  = { QueueName = aws_sqs_queue.ingest_dead_letter.name }
        statistic   = "Maximum"
      }
      points-dead-letter = {
        description = "Stream points messages the batch function gave up on (their entities wait behind them until then)."
        namespace   = "AWS/SQS"
        metric      = "ApproximateNumberOfMessagesVisible"
        dimensions  = { QueueName = aws_sqs_queue.points_dead_letter.name }
        statistic   = "Maximum"
      }
    },
    {
      for name, _ in local.functions : "${name}-errors" => {
        description = "The ${name} function failed."
        namespace   = "AWS/Lambda"
        metric      = "Errors"
        dimensions  = { FunctionName = aws_lambda_function.function[name].function_name }
        statistic   = "Sum"
      }
    },
  )
}

resource "aws_cloudwatch_metric_alarm" "alarm" {
  for_each            = local.alarms
  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_topic_arn == "" ? [] : [var.alarm_topic_arn]
}

# Alarms of earlier versions keep their place in existing state.
moved {
  from = aws_cloudwatch_metric_alarm.dead_letter
  to   = aws_cloudwatch_metric_alarm.alarm["dead-letter"]
}

moved {
  from = aws_cloudwatch_metric_alarm.function_errors["api"]
  to   = aws_cloudwatch_metric_alarm.alarm["api-errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.function_errors["batch"]
  to   = aws_cloudwatch_metric_alarm.alarm["batch-errors"]
}

moved {
  from = aws_cloudwatch_metric_alarm.function_errors["ingest"]
  to   = aws_cloudwatch_metric_alarm.alarm["ingest-errors"]
}
