/**
 * How the write-behind queue contract builds a queue on each backend. Shared by the contract
 * suite and the write-behind engine tests that run on several backends.
 */
import type { StoreFactories } from '@breakwater/testkit';
import { memoryWriteBehindQueue } from '../index.js';
import { redisWriteBehindQueue } from '../redis.js';
import type { WriteBehindQueue } from '../write-behind/queue.js';
import { dynaliteWriteQueue } from './dynalite-transactions.js';

export const queueFactories: StoreFactories<WriteBehindQueue> = {
  memory: () => memoryWriteBehindQueue(),
  dynamodb: ({ client, tableName, prefix }) => dynaliteWriteQueue({ client, tableName, prefix }),
  redis: ({ client, prefix }) => redisWriteBehindQueue({ client, prefix }),
};
