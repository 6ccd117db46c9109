variable "name" {
  description = "Prefix of every resource's name."
  type        = string
  default     = "pynomaly"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name: 2-21 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "dev or prod: tagged on everything; prod keeps more (see locals in main.tf)."
  type        = string
  default     = "prod"
  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment: dev or prod."
  }
}

variable "vpc_cidr" {
  description = "The VPC's address range; split into a public and a private subnet per zone."
  type        = string
  default     = "10.40.0.0/16"
}

variable "zones" {
  description = "How many availability zones the subnets, nodes and database span."
  type        = number
  default     = 3
  validation {
    condition     = var.zones >= 2 && var.zones <= 4
    error_message = "zones: 2 to 4 (EKS and RDS need at least two)."
  }
}

variable "kubernetes_version" {
  description = "EKS control-plane version."
  type        = string
  default     = "1.31"
}

variable "api_public_cidrs" {
  description = "Addresses that may reach the cluster's API endpoint from the internet (kubectl); empty keeps the endpoint private to the VPC."
  type        = list(string)
  default     = []
}

variable "node_instance_types" {
  description = "Instance types of the managed node group."
  type        = list(string)
  default     = ["m6i.large"]
}

variable "nodes" {
  description = "Size of the managed node group."
  type = object({
    min     = number
    desired = number
    max     = number
  })
  default = { min = 2, desired = 3, max = 10 }
  validation {
    condition     = var.nodes.min >= 1 && var.nodes.min <= var.nodes.desired && var.nodes.desired <= var.nodes.max
    error_message = "nodes: 1 <= min <= desired <= max."
  }
}

variable "db_instance_class" {
  description = "RDS instance class of the job database."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage" {
  description = "GiB of storage for the job database (grows on its own up to 5x this)."
  type        = number
  default     = 20
}

variable "db_backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery) kept for the job database."
  type        = number
  default     = 14
  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days: 1 to 35 (RDS's range; 0 would turn backups off)."
  }
}

variable "db_deletion_protection" {
  description = "Refuse to delete the job database (turn off only to tear an environment down)."
  type        = bool
  default     = true
}

variable "namespace" {
  description = "Kubernetes namespace of Pynomaly (k8s/base/namespace.yaml)."
  type        = string
  default     = "pynomaly"
}

variable "service_account" {
  description = "Kubernetes service account the API and worker pods run as (k8s/base/serviceaccount.yaml)."
  type        = string
  default     = "pynomaly"
}
