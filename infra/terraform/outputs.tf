output "state_table_name" {
  description = "The table of every Breakwater store."
  value       = aws_dynamodb_table.state.name
}

output "state_table_arn" {
  description = "The ARN of the table of every Breakwater store."
  value       = aws_dynamodb_table.state.arn
}

output "write_queue_table_name" {
  description = "The write-behind queue table (null unless create_write_queue_table)."
  value       = one(aws_dynamodb_table.write_queue[*].name)
}

output "write_queue_table_arn" {
  description = "The ARN of the write-behind queue table (null unless create_write_queue_table)."
  value       = one(aws_dynamodb_table.write_queue[*].arn)
}

output "policy_arns" {
  description = "The ARN of each pattern's managed policy, by pattern."
  value       = {
    "circuit-breaker"    = aws_iam_policy.circuit_breaker.arn
    "bulkhead"           = aws_iam_policy.bulkhead.arn
    "rate-limit"         = aws_iam_policy.rate_limit.arn
    "retry-budget"       = aws_iam_policy.retry_budget.arn
    "cache"              = aws_iam_policy.cache.arn
    "write-behind-queue" = one(aws_iam_policy.write_behind_queue[*].arn)
    "retry-dead-letters" = one(aws_iam_policy.retry_dead_letters[*].arn)
  }
}

output "policy_documents" {
  description = "Each pattern's policy document (JSON), by pattern, for inline policies."
  value       = {
    "circuit-breaker"    = data.aws_iam_policy_document.circuit_breaker.json
    "bulkhead"           = data.aws_iam_policy_document.bulkhead.json
    "rate-limit"         = data.aws_iam_policy_document.rate_limit.json
    "retry-budget"       = data.aws_iam_policy_document.retry_budget.json
    "cache"              = data.aws_iam_policy_document.cache.json
    "write-behind-queue" = one(data.aws_iam_policy_document.write_behind_queue[*].json)
    "retry-dead-letters" = one(data.aws_iam_policy_document.retry_dead_letters[*].json)
  }
}
