# Offline: the AWS provider is mocked, so the whole stack is "applied" without credentials.
# What is checked is this module's own logic: subnets per zone, NAT per environment, the
# database's protections, the IRSA trust scoped to one service account, the pods' rights.
mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = { names = ["us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d"] }
  }
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { name = "us-east-1" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }
  # Mocked values must still look like ARNs and URLs where the provider checks them.
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/pynomaly" }
  }
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:us-east-1:123456789012:log-group:/pynomaly" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::pynomaly-prod-data-123456789012" }
  }
  mock_resource "aws_eks_cluster" {
    defaults = {
      identity = [{ oidc = [{ issuer = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE" }] }]
    }
  }
  mock_resource "aws_iam_openid_connect_provider" {
    defaults = {
      arn = "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE"
      url = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE"
    }
  }
  mock_resource "aws_db_instance" {
    defaults = {
      endpoint           = "pynomaly-prod.example.us-east-1.rds.amazonaws.com:5432"
      master_user_secret = [{ secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds-pynomaly", kms_key_id = "", secret_status = "active" }]
    }
  }
}

run "prod_spans_three_zones_with_a_protected_database" {
  command = apply

  assert {
    condition     = length(aws_subnet.private) == 3 && length(aws_subnet.public) == 3
    error_message = "one public and one private subnet per zone"
  }
  assert {
    condition     = toset(aws_subnet.private[*].availability_zone) == toset(["us-east-1a", "us-east-1b", "us-east-1c"])
    error_message = "the private subnets span the first three zones"
  }
  assert {
    condition     = length(aws_nat_gateway.main) == 3
    error_message = "prod has a NAT gateway per zone"
  }
  assert {
    condition     = toset(aws_eks_node_group.main.subnet_ids) == toset(aws_subnet.private[*].id)
    error_message = "nodes run in the private subnets only"
  }
  assert {
    condition     = toset(aws_eks_cluster.main.vpc_config[0].subnet_ids) == toset(aws_subnet.private[*].id) && !aws_eks_cluster.main.vpc_config[0].endpoint_public_access
    error_message = "the control plane sits in the private subnets, its endpoint private without api_public_cidrs"
  }
  assert {
    condition     = aws_eks_cluster.main.encryption_config[0].resources == toset(["secrets"])
    error_message = "Kubernetes secrets are encrypted with the stack's key"
  }
  assert {
    condition = alltrue([
      aws_db_instance.main.storage_encrypted,
      aws_db_instance.main.deletion_protection,
      aws_db_instance.main.multi_az,
      !aws_db_instance.main.publicly_accessible,
      aws_db_instance.main.backup_retention_period == 14,
      aws_db_instance.main.manage_master_user_password,
      aws_db_instance.main.engine_version == "15",
    ])
    error_message = "the database is encrypted, protected, multi-AZ, private, backed up 14 days, its password managed"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.db_from_cluster.from_port == 5432 && aws_vpc_security_group_ingress_rule.db_from_cluster.referenced_security_group_id == aws_eks_cluster.main.vpc_config[0].cluster_security_group_id
    error_message = "PostgreSQL is reachable from the cluster's security group only"
  }
  assert {
    condition = one([
      for c in data.aws_iam_policy_document.pods_assume.statement[0].condition : c.values[0]
      if endswith(c.variable, ":sub")
    ]) == "system:serviceaccount:pynomaly:pynomaly"
    error_message = "the pods' role is assumable by the pynomaly service account only"
  }
  assert {
    condition     = toset(flatten(data.aws_iam_policy_document.pods.statement[*].actions)) == toset(["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"])
    error_message = "the pods may list, read, write and delete objects, nothing else"
  }
  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.data.block_public_acls,
      aws_s3_bucket_public_access_block.data.block_public_policy,
      aws_s3_bucket_public_access_block.data.ignore_public_acls,
      aws_s3_bucket_public_access_block.data.restrict_public_buckets,
    ])
    error_message = "the bucket blocks every public access"
  }
  assert {
    condition     = output.configmap.PYNOMALY_QUEUE == "postgres" && output.configmap.PYNOMALY_BUCKET == aws_s3_bucket.data.bucket
    error_message = "the outputs fill the ConfigMap: PostgreSQL queue, this bucket"
  }
}

run "dev_is_smaller_and_can_be_torn_down" {
  command = apply
  variables {
    environment            = "dev"
    zones                  = 2
    db_deletion_protection = false
    api_public_cidrs       = ["203.0.113.0/24"]
  }

  assert {
    condition     = length(aws_nat_gateway.main) == 1 && length(aws_subnet.private) == 2
    error_message = "dev: two zones, one NAT gateway"
  }
  assert {
    condition     = !aws_db_instance.main.multi_az && !aws_db_instance.main.deletion_protection
    error_message = "dev: single-AZ database that may be deleted"
  }
  assert {
    condition     = aws_eks_cluster.main.vpc_config[0].endpoint_public_access && toset(aws_eks_cluster.main.vpc_config[0].public_access_cidrs) == toset(["203.0.113.0/24"])
    error_message = "api_public_cidrs opens the endpoint to those addresses only"
  }
}

run "one_zone_is_refused" {
  command = plan
  variables {
    zones = 1
  }
  expect_failures = [var.zones]
}

run "backups_cannot_be_turned_off" {
  command = plan
  variables {
    db_backup_retention_days = 0
  }
  expect_failures = [var.db_backup_retention_days]
}
