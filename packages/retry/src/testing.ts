/**
 * `@breakwater/retry/testing`: the contract every `DeadLetterQueue` (of `@breakwater/retry`)
 * meets, as plain async checks you run in your test framework. Run it against your own queue
 * (SQS, a database table) to know it behaves like the queues Breakwater ships.
 *
 * @module @breakwater/retry/testing
 */
export {
  type DeadLetterContractCase,
  type DeadLetterContractOptions,
  deadLetterQueueContract,
  type MakeDeadLetterQueue,
} from './dead-letters/contract.js';
