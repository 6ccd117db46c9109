variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "pynomaly"
}

variable "lambda_zip_dir" {
  description = "Directory of the function zips (`cargo lambda build --output-format zip` output: <dir>/pynomaly-api/bootstrap.zip, ...)."
  type        = string
  default     = "../target/lambda"
}

variable "architecture" {
  description = "arm64 (default, as `scripts/build-lambdas` builds) or x86_64."
  type        = string
  default     = "arm64"
  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "ingest_tenant" {
  description = "Tenant whose models score files dropped under incoming/<model id>/."
  type        = string
  default     = "default"
}

variable "chunk_bytes" {
  description = "Dropped CSV/NDJSON files above this size are scored in parallel parts."
  type        = number
  default     = 8388608
}

variable "max_receives" {
  description = "Deliveries before a message goes to the dead-letter queue."
  type        = number
  default     = 5
}

variable "jwt_issuer" {
  description = "Optional JWT issuer URL (e.g. a Cognito user pool); when set, API Gateway also requires a valid JWT."
  type        = string
  default     = ""
}

variable "jwt_audience" {
  description = "Audiences (client ids) the JWT authorizer accepts; with jwt_issuer."
  type        = list(string)
  default     = []
}

variable "alarm_topic_arn" {
  description = "Optional SNS topic for the alarms."
  type        = string
  default     = ""
}
