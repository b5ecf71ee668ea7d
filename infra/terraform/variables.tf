variable "state_table_name" {
  description = "The table of every Breakwater store (the `tableName` you give dynamoStore())."
  type        = string
  default     = "breakwater"
}

variable "create_write_queue_table" {
  description = "Create the queue table and the policies of its stores (dynamoWriteBehindQueue(), dynamoDeadLetters())."
  type        = bool
  default     = false
}

variable "write_queue_table_name" {
  description = "The queue table (the `tableName` you give dynamoWriteBehindQueue() and dynamoDeadLetters())."
  type        = string
  default     = "breakwater-write-queue"
}

variable "key_prefix" {
  description = "The `prefix` option of your stores. Each policy allows only the items whose partition key starts with `<key_prefix>:<pattern>:`."
  type        = string
  default     = "bw"

  validation {
    condition     = can(regex("^[^{}*?]+$", var.key_prefix))
    error_message = "The key_prefix must be non-empty and contain none of { } * ?."
  }
}

variable "policy_name_prefix" {
  description = "First part of the IAM policy names: <policy_name_prefix>-<pattern>."
  type        = string
  default     = "breakwater"
}

variable "tags" {
  description = "Tags for the tables and the policies."
  type        = map(string)
  default     = {}
}
