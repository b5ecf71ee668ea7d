# One least-privilege policy per pattern: exactly the DynamoDB actions its store sends, on its
# table (and, for the write-behind queue, its index), for the items of its key prefix only.
# Attach the ones your service uses to its role (outputs `policy_arns`), or use the documents
# inline (outputs `policy_documents`). packages/testkit checks them against what the stores send.

# @breakwater/circuit-breaker/dynamodb: dynamoStore()
data "aws_iam_policy_document" "circuit_breaker" {
  statement {
    sid       = "BreakwaterCircuitBreaker"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.state.arn]

    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["${var.key_prefix}:circuit-breaker:*"]
    }
  }
}

resource "aws_iam_policy" "circuit_breaker" {
  name        = "${var.policy_name_prefix}-circuit-breaker"
  description = "Breakwater circuit breakers on DynamoDB"
  policy      = data.aws_iam_policy_document.circuit_breaker.json
  tags        = var.tags
}

# @breakwater/bulkhead/dynamodb: dynamoStore()
data "aws_iam_policy_document" "bulkhead" {
  statement {
    sid       = "BreakwaterBulkhead"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.state.arn]

    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["${var.key_prefix}:bulkhead:*"]
    }
  }
}

resource "aws_iam_policy" "bulkhead" {
  name        = "${var.policy_name_prefix}-bulkhead"
  description = "Breakwater bulkheads on DynamoDB"
  policy      = data.aws_iam_policy_document.bulkhead.json
  tags        = var.tags
}

# @breakwater/rate-limit/dynamodb: dynamoStore()
data "aws_iam_policy_document" "rate_limit" {
  statement {
    sid       = "BreakwaterRateLimit"
    actions   = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.state.arn]

    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["${var.key_prefix}:rate-limit:*"]
    }
  }
}

resource "aws_iam_policy" "rate_limit" {
  name        = "${var.policy_name_prefix}-rate-limit"
  description = "Breakwater rate limiters on DynamoDB"
  policy      = data.aws_iam_policy_document.rate_limit.json
  tags        = var.tags
}

# @breakwater/retry/dynamodb: dynamoBudgetStore()
data "aws_iam_policy_document" "retry_budget" {
  statement {
    sid       = "BreakwaterRetryBudget"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.state.arn]

    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["${var.key_prefix}:retry:*"]
    }
  }
}

resource "aws_iam_policy" "retry_budget" {
  name        = "${var.policy_name_prefix}-retry-budget"
  description = "Breakwater retry budgets on DynamoDB"
  policy      = data.aws_iam_policy_document.retry_budget.json
  tags        = var.tags
}

# @breakwater/cache/dynamodb: dynamoStore()
data "aws_iam_policy_document" "cache" {
  statement {
    sid       = "BreakwaterCache"
    actions   = ["dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.state.arn]

    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["${var.key_prefix}:cache:*"]
    }
  }
}

resource "aws_iam_policy" "cache" {
  name        = "${var.policy_name_prefix}-cache"
  description = "Breakwater caches on DynamoDB"
  policy      = data.aws_iam_policy_document.cache.json
  tags        = var.tags
}

# @breakwater/cache/dynamodb: dynamoWriteBehindQueue(). Its transactions (TransactWriteItems)
# are authorised through the item actions they contain: PutItem, UpdateItem, DeleteItem.
data "aws_iam_policy_document" "write_behind_queue" {
  count = var.create_write_queue_table ? 1 : 0

  statement {
    sid     = "BreakwaterWriteBehindQueue"
    actions = [
      "dynamodb:DeleteItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = [
      aws_dynamodb_table.write_queue[0].arn,
      "${aws_dynamodb_table.write_queue[0].arn}/index/lsk",
    ]

    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["${var.key_prefix}:write-behind:*"]
    }
  }
}

resource "aws_iam_policy" "write_behind_queue" {
  count = var.create_write_queue_table ? 1 : 0

  name        = "${var.policy_name_prefix}-write-behind-queue"
  description = "Breakwater write-behind queues on DynamoDB"
  policy      = data.aws_iam_policy_document.write_behind_queue[0].json
  tags        = var.tags
}

# @breakwater/retry/dynamodb: dynamoDeadLetters(), in the queue table (sort key `sk`, no index).
data "aws_iam_policy_document" "retry_dead_letters" {
  count = var.create_write_queue_table ? 1 : 0

  statement {
    sid     = "BreakwaterRetryDeadLetters"
    actions = [
      "dynamodb:DeleteItem",
      "dynamodb:GetItem",
      "dynamodb:PutItem",
      "dynamodb:Query",
      "dynamodb:UpdateItem",
    ]
    resources = [aws_dynamodb_table.write_queue[0].arn]

    condition {
      test     = "ForAllValues:StringLike"
      variable = "dynamodb:LeadingKeys"
      values   = ["${var.key_prefix}:retry-dead-letters:*"]
    }
  }
}

resource "aws_iam_policy" "retry_dead_letters" {
  count = var.create_write_queue_table ? 1 : 0

  name        = "${var.policy_name_prefix}-retry-dead-letters"
  description = "Breakwater retry dead-letter queues on DynamoDB"
  policy      = data.aws_iam_policy_document.retry_dead_letters[0].json
  tags        = var.tags
}
