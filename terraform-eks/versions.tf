terraform {
  required_version = ">= 1.7"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

provider "aws" {
  default_tags {
    tags = {
      "app.kubernetes.io/part-of" = "pynomaly"
      "pynomaly:environment"      = var.environment
    }
  }
}
