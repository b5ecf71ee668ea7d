/**
 * The policy on the DynamoDB store, with two "replicas" in one process.
 */
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { describeWithDynamo, dynamoFixture } from '@breakwater/testkit';
import { afterEach, expect, it } from 'vitest';
import { type CircuitBreaker, circuitBreaker } from '../circuit-breaker.js';
import { type CircuitBreakerOptions, resolveOptions } from '../options.js';
import { dynamoStore } from '../stores/dynamodb.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const open: CircuitBreaker[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((b) => b.close()));
});

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`condition not met within ${ms} ms`);
    await sleep(5);
  }
}

describeWithDynamo('circuit breaker on DynamoDB', () => {
  const fixture = dynamoFixture();
  const replica = (prefix: string, options: CircuitBreakerOptions = {}) => {
    const store = dynamoStore({ client: fixture.client, tableName: fixture.tableName, prefix });
    const breaker = circuitBreaker({ name: 'payments', store, syncIntervalMs: 50, ...options });
    open.push(breaker);
    return breaker;
  };

  it('replicas learn of a transition by re-reading the item every syncIntervalMs', async () => {
    const prefix = fixture.uniquePrefix();
    const a = replica(prefix, { consecutiveFailures: 2 });
    const b = replica(prefix, { consecutiveFailures: 2 });
    await b.execute(() => 'ok');
    await a.execute(() => Promise.reject(new Error('x'))).catch(() => {});
    await a.execute(() => Promise.reject(new Error('x'))).catch(() => {});
    await waitFor(() => a.state === 'open', 1000);
    await waitFor(() => b.state === 'open', 1000);
    await expect(b.execute(() => 'ok')).rejects.toMatchObject({ name: 'BrokenCircuitError' });
  });

  it('replaces a malformed or foreign item and reports it, never crashing a call', async () => {
    const prefix = fixture.uniquePrefix();
    await fixture.client.send(
      new PutItemCommand({
        TableName: fixture.tableName,
        Item: {
          pk: { S: `${prefix}:circuit-breaker:payments:state:` },
          rec: { S: '{"not":"a record"' },
          version: { N: '3' },
        },
      }),
    );
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const a = replica(prefix);
      await expect(a.execute(() => 'ok')).resolves.toBe('ok');
      await waitFor(() => warnings.some((w) => w.includes('replaced')), 1000);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it("probes the table with a GetItem of the breaker's item, honouring the signal", async () => {
    const prefix = fixture.uniquePrefix();
    const store = dynamoStore({ client: fixture.client, tableName: fixture.tableName, prefix });
    const scope = store.scope('payments', resolveOptions({ store }).rules);
    expect(scope.abortable).toBe(true);
    const sent: unknown[] = [];
    const send = fixture.client.send.bind(fixture.client);
    fixture.client.send = ((command: unknown, options?: unknown) => {
      sent.push(command);
      return send(command as never, options as never);
    }) as typeof fixture.client.send;
    try {
      await expect(
        Promise.resolve(scope.probe!(new AbortController().signal)),
      ).resolves.toBeDefined();
      expect(sent).toHaveLength(1);
      expect(sent[0]).toBeInstanceOf(GetItemCommand);
      expect((sent[0] as GetItemCommand).input).toMatchObject({
        TableName: fixture.tableName,
        Key: { pk: { S: `${prefix}:circuit-breaker:payments:state:` } },
      });
      const reason = new Error('deadline');
      await expect(Promise.resolve(scope.probe!(AbortSignal.abort(reason)))).rejects.toThrow();
    } finally {
      fixture.client.send = send;
    }
  });
});
