/**
 * Records what a store sends to DynamoDB and derives what IAM must allow for it: the actions
 * (a transaction is authorised through the item actions it contains), the tables and indexes,
 * and the partition key values (what a `dynamodb:LeadingKeys` condition is evaluated on).
 */
import type { AttributeValue, DynamoDBClient } from '@aws-sdk/client-dynamodb';

/** One request a store sent: the command's class name and its input. */
export interface SentRequest {
  readonly command: string;
  readonly input: Readonly<Record<string, unknown>>;
}

/** What IAM evaluates for one request. */
export interface Authorisation {
  readonly actions: readonly string[];
  /** Table names, and `<table>/index/<index>` for a request on an index. */
  readonly resources: readonly string[];
  /** The partition key values the request touches. */
  readonly partitionKeys: readonly string[];
}

type Item = Record<string, AttributeValue>;
type Send = (command: object, options?: unknown) => Promise<unknown>;

/**
 * A client that records every request sent through it, then sends it on `client` — unless
 * `answer` answers it instead. It is a proxy, so everything else (config, middleware) is the real
 * client's, and requests the real client sends itself — the dynalite transaction stand-in's own
 * writes — are not recorded.
 */
export function recordingClient(
  client: DynamoDBClient,
  sent: SentRequest[],
  answer?: (request: SentRequest) => Promise<unknown> | undefined,
): DynamoDBClient {
  const send: Send = (command, options) => {
    const request = {
      command: command.constructor.name,
      input: (command as { input: Record<string, unknown> }).input,
    };
    sent.push(request);
    return answer?.(request) ?? (client.send as Send).call(client, command, options);
  };
  return new Proxy(client, {
    get: (target, property) => (property === 'send' ? send : Reflect.get(target, property, target)),
  });
}

/** The IAM action of each part of a TransactWriteItems / TransactGetItems request. */
const TRANSACTION_PARTS: Record<string, string> = {
  Put: 'dynamodb:PutItem',
  Update: 'dynamodb:UpdateItem',
  Delete: 'dynamodb:DeleteItem',
  ConditionCheck: 'dynamodb:ConditionCheckItem',
  Get: 'dynamodb:GetItem',
};

const PARTITION_KEY = 'pk';

function partitionKeyOf(item: Item | undefined): string[] {
  const value = item?.[PARTITION_KEY]?.S;
  return value === undefined ? [] : [value];
}

/** The partition key values a Query's key condition names (`pk = :pk`, `#pk = :pk`). */
function queriedPartitionKeys(input: Readonly<Record<string, unknown>>): string[] {
  const names = (input.ExpressionAttributeNames ?? {}) as Record<string, string>;
  const values = (input.ExpressionAttributeValues ?? {}) as Item;
  const condition = String(input.KeyConditionExpression ?? '');
  const keys: string[] = [];
  for (const [, name, placeholder] of condition.matchAll(/([#\w]+)\s*=\s*(:\w+)/g)) {
    const attribute = name!.startsWith('#') ? names[name!] : name;
    const value = values[placeholder!]?.S;
    if (attribute === PARTITION_KEY && value !== undefined) keys.push(value);
  }
  if (keys.length === 0) throw new Error(`a Query without a partition key condition: ${condition}`);
  return keys;
}

/** What IAM evaluates for `request`. Throws for a command this test does not know yet. */
export function authorisationOf(request: SentRequest): Authorisation {
  const operation = request.command.replace(/Command$/, '');
  const input = request.input;
  const table = String(input.TableName);
  switch (operation) {
    case 'GetItem':
    case 'UpdateItem':
    case 'DeleteItem':
      return {
        actions: [`dynamodb:${operation}`],
        resources: [table],
        partitionKeys: partitionKeyOf(input.Key as Item),
      };
    case 'PutItem':
      return {
        actions: [`dynamodb:${operation}`],
        resources: [table],
        partitionKeys: partitionKeyOf(input.Item as Item),
      };
    case 'Query':
    case 'Scan': {
      const index = input.IndexName === undefined ? '' : `/index/${String(input.IndexName)}`;
      return {
        actions: [`dynamodb:${operation}`],
        resources: [`${table}${index}`],
        partitionKeys: operation === 'Query' ? queriedPartitionKeys(input) : [],
      };
    }
    case 'BatchGetItem':
    case 'BatchWriteItem': {
      const requestItems = input.RequestItems as Record<string, unknown>;
      const partitionKeys = Object.values(requestItems).flatMap((entry) =>
        operation === 'BatchGetItem'
          ? ((entry as { Keys: Item[] }).Keys ?? []).flatMap(partitionKeyOf)
          : (entry as { PutRequest?: { Item: Item }; DeleteRequest?: { Key: Item } }[]).flatMap(
              (write) => partitionKeyOf(write.PutRequest?.Item ?? write.DeleteRequest?.Key),
            ),
      );
      return {
        actions: [`dynamodb:${operation}`],
        resources: Object.keys(requestItems),
        partitionKeys,
      };
    }
    case 'TransactWriteItems':
    case 'TransactGetItems': {
      const parts = (input.TransactItems ?? []) as Record<string, Record<string, unknown>>[];
      const actions: string[] = [];
      const resources: string[] = [];
      const partitionKeys: string[] = [];
      for (const part of parts) {
        for (const [kind, body] of Object.entries(part)) {
          const action = TRANSACTION_PARTS[kind];
          if (action === undefined) throw new Error(`unknown transaction part ${kind}`);
          actions.push(action);
          resources.push(String(body.TableName));
          partitionKeys.push(...partitionKeyOf((body.Key ?? body.Item) as Item));
        }
      }
      return { actions, resources, partitionKeys };
    }
    default:
      throw new Error(
        `${request.command} is not known to the IaC test: add how IAM authorises it to ` +
          'authorisationOf() and the action to the policies in infra/',
      );
  }
}

/**
 * The IAM actions of the requests a source file builds itself (`new GetItemCommand(`, and the
 * parts of the transactions it writes: `Put: {`), read from its text.
 */
export function actionsBuiltIn(source: string): string[] {
  const actions = new Set<string>();
  for (const [, operation] of source.matchAll(/\bnew (\w+)Command\(/g)) {
    if (!operation!.startsWith('Transact')) actions.add(`dynamodb:${operation}`);
  }
  for (const [, part] of source.matchAll(/^\s*(Put|Update|Delete|ConditionCheck): \{/gm)) {
    actions.add(TRANSACTION_PARTS[part!]!);
  }
  return [...actions].sort();
}
