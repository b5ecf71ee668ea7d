import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { expectExitsByItself } from '../exit-check.js';

const script = fileURLToPath(new URL('./exit-scripts/exit-case.ts', import.meta.url));
const drive = async (child: {
  waitForMessage(line: string): Promise<string>;
  send(line: string): void;
}) => {
  await child.waitForMessage('ready');
  child.send('go on');
};

describe('expectExitsByItself', () => {
  it('resolves when the child exits by itself after closed, with what it reported', async () => {
    const exit = await expectExitsByItself({ script, env: { EXIT_CASE: 'clean' }, drive });
    expect(exit.exitCode).toBe(0);
    expect(exit.result).toEqual({ line: 'go on' });
    expect(exit.messages).toEqual(['ready', 'closed']);
    expect(exit.closedToExitMs).toBeLessThan(2_000);
  });

  it('kills a child that a timer keeps alive, and names the timer', async () => {
    const started = Date.now();
    await expect(
      expectExitsByItself({ script, env: { EXIT_CASE: 'leak-timer' }, drive, withinMs: 500 }),
    ).rejects.toThrow(
      /did not exit by itself within 500 ms of 'closed' and was killed\. Still keeping it alive: Timeout/,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('names a server left listening, with its address', async () => {
    await expect(
      expectExitsByItself({ script, env: { EXIT_CASE: 'leak-server' }, drive, withinMs: 500 }),
    ).rejects.toThrow(
      /Still keeping it alive: TCPServerWrap, server listening on \{"address":"127\.0\.0\.1"/,
    );
  });

  it('fails a child that exits with another code than 0', async () => {
    await expect(
      expectExitsByItself({ script, env: { EXIT_CASE: 'exit-code' }, drive }),
    ).rejects.toThrow(/exited by itself after 'closed', but with code 3/);
  });

  it('fails a child that crashes before closed, quoting its stderr', async () => {
    await expect(
      expectExitsByItself({ script, env: { EXIT_CASE: 'crash' }, drive }),
    ).rejects.toThrow(
      /before the child reported 'closed'[\s\S]*crashed before closing, on purpose/,
    );
  });

  it('fails when drive throws, and kills the child', async () => {
    await expect(
      expectExitsByItself({
        script,
        drive: async () => {
          throw new Error('the test could not inject its fault');
        },
      }),
    ).rejects.toThrow(/before the child reported 'closed': the test could not inject its fault/);
  });
});
