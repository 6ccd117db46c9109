output "api_url" {
  description = "Base URL of the HTTP API (try GET /health)."
  value       = aws_apigatewayv2_api.http.api_endpoint
}

output "data_bucket" {
  description = "Drop files under incoming/<model id>/; results appear under results/."
  value       = aws_s3_bucket.data.bucket
}

output "jobs_table" {
  description = "DynamoDB table of job records."
  value       = aws_dynamodb_table.jobs.name
}

output "jobs_queue_url" {
  description = "SQS queue of job and chunk messages."
  value       = aws_sqs_queue.jobs.url
}

output "dead_letter_queue_url" {
  description = "Messages that failed max_receives times."
  value       = aws_sqs_queue.dead_letter.url
}

output "ingest_dead_letter_queue_url" {
  description = "S3 events the ingest function could not handle."
  value       = aws_sqs_queue.ingest_dead_letter.url
}

output "points_queue_url" {
  description = "FIFO SQS queue of stream points (message group = entity)."
  value       = aws_sqs_queue.points.url
}

output "points_dead_letter_queue_url" {
  description = "Stream points messages that failed max_receives times."
  value       = aws_sqs_queue.points_dead_letter.url
}
