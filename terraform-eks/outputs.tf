output "cluster_name" {
  description = "aws eks update-kubeconfig --name <this>"
  value       = aws_eks_cluster.main.name
}

output "kubeconfig_command" {
  description = "Points kubectl at the cluster."
  value       = "aws eks update-kubeconfig --region ${data.aws_region.current.name} --name ${aws_eks_cluster.main.name}"
}

output "service_account_role_arn" {
  description = "The eks.amazonaws.com/role-arn annotation of k8s/base/serviceaccount.yaml."
  value       = aws_iam_role.pods.arn
}

output "database_endpoint" {
  description = "host:port of the job database (DATABASE_URL's host)."
  value       = aws_db_instance.main.endpoint
}

output "database_master_secret_arn" {
  description = "Secrets Manager secret with the database's master password (for DATABASE_URL)."
  value       = aws_db_instance.main.master_user_secret[0].secret_arn
}

output "configmap" {
  description = "The values k8s/base/configmap.yaml needs from this stack."
  value = {
    PYNOMALY_STORE  = "postgres"
    PYNOMALY_QUEUE  = "postgres"
    PYNOMALY_BUCKET = aws_s3_bucket.data.bucket
    AWS_REGION      = data.aws_region.current.name
  }
}
