# The one table of every store: string partition key `pk`, expiry on the numeric `ttl`.
resource "aws_dynamodb_table" "state" {
  name         = var.state_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  tags = var.tags
}

# The write-behind queue: sort key `sk` and a keys-only local secondary index `lsk`.
resource "aws_dynamodb_table" "write_queue" {
  count = var.create_write_queue_table ? 1 : 0

  name         = var.write_queue_table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"
  range_key    = "sk"

  attribute {
    name = "pk"
    type = "S"
  }

  attribute {
    name = "sk"
    type = "S"
  }

  attribute {
    name = "lsk"
    type = "S"
  }

  local_secondary_index {
    name            = "lsk"
    range_key       = "lsk"
    projection_type = "KEYS_ONLY"
  }

  ttl {
    attribute_name = "ttl"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  tags = var.tags
}
