/**
 * dynalite (the DynamoDB the tests run against) does not implement TransactWriteItems. This
 * installs, on one client, a stand-in that runs a transaction's actions one by one against
 * dynalite — each a real conditional write, evaluated by dynalite — under a process-wide lock
 * that serializes transactions, and undoes the applied actions when one's condition fails, then
 * rejects like DynamoDB (`TransactionCanceledException` with one reason per action). Tests can
 * also make the next transactions fail with `TransactionConflict`, which dynalite never does.
 *
 * Not isolation-perfect (a single-item write of another request may see a half-applied
 * transaction); the write-behind queue orders its actions so that the condition that can fail
 * comes first, where that cannot matter. No vitest here: the degradation suite's subject
 * (degradation/write-behind-subject.ts) installs it on the client it is given, in the suite's
 * child processes too. A transaction whose store call was abandoned at its deadline still runs to
 * its end (its inner requests do not see the caller's signal), as DynamoDB's would either commit
 * or not: aborting it halfway would leave half a transaction applied.
 */
import {
  type AttributeValue,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  TransactionCanceledException,
  type TransactWriteItem,
  type TransactWriteItemsCommandInput,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { createWriteQueueTable, dynamoWriteBehindQueue } from '../dynamodb.js';
import type { WriteBehindQueue } from '../write-behind/queue.js';

type Item = Record<string, AttributeValue>;

/** What a test can do with a client whose transactions are emulated. */
export interface EmulatedTransactions {
  /** Cancels the next `count` transactions with `TransactionConflict`. */
  conflictNext(count: number): void;
  /** Transactions sent so far (committed, cancelled or conflicted). */
  readonly sent: number;
}

const installed = new WeakMap<DynamoDBClient, EmulatedTransactions>();
let lock: Promise<void> = Promise.resolve();

/** Installs the stand-in on `client` (once; later calls return the same handle). */
export function emulateTransactions(client: DynamoDBClient): EmulatedTransactions {
  const existing = installed.get(client);
  if (existing !== undefined) return existing;
  let conflicts = 0;
  let sent = 0;
  const handle: EmulatedTransactions = {
    conflictNext(count) {
      conflicts += count;
    },
    get sent() {
      return sent;
    },
  };
  installed.set(client, handle);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'TransactWriteItemsCommand') return next(args);
      sent++;
      const input = args.input as TransactWriteItemsCommandInput;
      const actions = input.TransactItems ?? [];
      if (conflicts > 0) {
        conflicts--;
        throw cancelled(actions.map(() => 'TransactionConflict'));
      }
      const previous = lock;
      let release!: () => void;
      lock = new Promise((resolve) => {
        release = resolve;
      });
      await previous;
      try {
        await run(client, actions);
      } finally {
        release();
      }
      return { output: { $metadata: {} } as never, response: {} };
    },
    { step: 'initialize', name: 'breakwaterEmulatedTransactions' },
  );
  return handle;
}

async function run(client: DynamoDBClient, actions: TransactWriteItem[]): Promise<void> {
  const undo: { tableName: string; key: Item; old: Item | undefined }[] = [];
  for (let index = 0; index < actions.length; index++) {
    const action = actions[index]!;
    const { tableName, key } = target(action);
    const { Item: old } = await client.send(
      new GetItemCommand({ TableName: tableName, Key: key, ConsistentRead: true }),
    );
    try {
      if (action.Put) await client.send(new PutItemCommand(action.Put));
      else if (action.Update) await client.send(new UpdateItemCommand(action.Update));
      else if (action.Delete) await client.send(new DeleteItemCommand(action.Delete));
      else throw new Error('emulated transactions support Put, Update and Delete only');
      undo.push({ tableName, key, old });
    } catch (error) {
      if ((error as { name?: string }).name !== 'ConditionalCheckFailedException') throw error;
      for (const step of undo.reverse()) {
        if (step.old === undefined) {
          await client.send(new DeleteItemCommand({ TableName: step.tableName, Key: step.key }));
        } else {
          await client.send(new PutItemCommand({ TableName: step.tableName, Item: step.old }));
        }
      }
      throw cancelled(actions.map((_, i) => (i === index ? 'ConditionalCheckFailed' : 'None')));
    }
  }
}

function target(action: TransactWriteItem): { tableName: string; key: Item } {
  if (action.Put) {
    const { pk, sk } = action.Put.Item ?? {};
    return { tableName: action.Put.TableName!, key: sk ? { pk: pk!, sk } : { pk: pk! } };
  }
  const part = action.Update ?? action.Delete ?? action.ConditionCheck;
  return { tableName: part!.TableName!, key: part!.Key! };
}

function cancelled(codes: string[]): TransactionCanceledException {
  return new TransactionCanceledException({
    message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(', ')}]`,
    $metadata: {},
    CancellationReasons: codes.map((Code) => ({ Code })),
  });
}

const queueTables = new Map<string, Promise<unknown>>();

/**
 * The DynamoDB write-behind queue the contract suite runs on: a queue table next to the
 * fixture's store table (created once per suite), on a client with emulated transactions.
 */
export async function dynaliteWriteQueue(context: {
  client: DynamoDBClient;
  tableName: string;
  prefix: string;
}): Promise<WriteBehindQueue> {
  const tableName = `${context.tableName}-queue`;
  let created = queueTables.get(tableName);
  if (created === undefined) {
    created = createWriteQueueTable(context.client, tableName);
    queueTables.set(tableName, created);
  }
  await created;
  emulateTransactions(context.client);
  return dynamoWriteBehindQueue({ client: context.client, tableName, prefix: context.prefix });
}
