/// <reference path="./dynalite.d.ts" />
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll } from 'vitest';
import { DYNALITE_CLIENT_CONFIG } from './default-clients.js';
import { createTestTable } from './dynamo-table.js';

export { createTestTable };

import { FixtureSlot } from './fixture-slot.js';
import { uniquePrefix } from './key-prefix.js';

/** What {@link dynamoFixture} gives the tests of its suite. */
export interface DynamoFixture {
  /** A DynamoDB client of the fixture's dynalite server. */
  readonly client: DynamoDBClient;
  /** The fixture's table (string partition key `pk`, PAY_PER_REQUEST), created before the suite. */
  readonly tableName: string;
  /** `http://127.0.0.1:<port>` of the dynalite server, for clients made elsewhere (a fleet). */
  readonly endpoint: string;
  /** A key prefix unique to this fixture, for items of the shared table. */
  readonly prefix: string;
  /** A prefix of its own for one test (`<prefix>:<random>`). */
  uniquePrefix(): string;
  /** Another client of the same server, destroyed after the suite. */
  newClient(): DynamoDBClient;
}

// Defined where child processes can load it without vitest; re-exported here where it always was.
export { DYNALITE_CLIENT_CONFIG };

/** Starts dynalite in process on a free port; resolves the server and its endpoint URL. */
export async function startDynalite(): Promise<{ server: Server; endpoint: string }> {
  const { default: dynalite } = await import('dynalite');
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { server, endpoint: `http://127.0.0.1:${port}` };
}

/** A DynamoDB client of the dynalite at `endpoint`. */
export function dynaliteClient(endpoint: string): DynamoDBClient {
  // The SDK warns once per process that it will soon need Node 22; that is noise in test output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  return new DynamoDBClient({ ...DYNALITE_CLIENT_CONFIG, endpoint, maxAttempts: 1 });
}

/**
 * Registers hooks in the current file or `describe` that start dynalite in process on a free
 * port, connect a client and create a fresh table; after the suite the clients are destroyed and
 * the server closed. Use it inside `describeWithDynamo(...)`.
 */
export function dynamoFixture(): DynamoFixture {
  const prefix = uniquePrefix();
  const tableName = `bwtest-${prefix.slice(prefix.indexOf(':') + 1)}`;
  const server = new FixtureSlot<Server>('dynamoFixture().server');
  const endpoint = new FixtureSlot<string>('dynamoFixture().endpoint');
  const client = new FixtureSlot<DynamoDBClient>('dynamoFixture().client');
  const clients = new Set<DynamoDBClient>();
  const table = new FixtureSlot<string>('dynamoFixture().tableName');

  const newClient = (): DynamoDBClient => {
    const dynamo = dynaliteClient(endpoint.get());
    clients.add(dynamo);
    return dynamo;
  };

  beforeAll(async () => {
    const started = await startDynalite();
    server.set(started.server);
    endpoint.set(started.endpoint);
    const dynamo = newClient();
    client.set(dynamo);
    await createTestTable(dynamo, tableName);
    table.set(tableName);
  });

  afterAll(async () => {
    table.take();
    client.take();
    endpoint.take();
    for (const dynamo of clients) dynamo.destroy();
    clients.clear();
    const running = server.take();
    if (running) {
      await new Promise<void>((resolve, reject) =>
        running.close((error) => (error ? reject(error) : resolve())),
      );
    }
  });

  return {
    get client() {
      return client.get();
    },
    get tableName() {
      return table.get();
    },
    get endpoint() {
      return endpoint.get();
    },
    prefix,
    uniquePrefix: () => uniquePrefix(prefix),
    newClient,
  };
}
