// Exit check child: builds what EXIT_CASE names, waits for the test, "closes" and reports closed.
import { createServer } from 'node:net';
import { reportClosed, waitForParent } from '@breakwater/testkit/exit-child';
import { reportMessage, reportResult } from '@breakwater/testkit/replica';

const exitCase = process.env.EXIT_CASE ?? 'clean';
if (exitCase === 'crash') throw new Error('crashed before closing, on purpose');

const server = createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const interval = setInterval(() => {}, 1_000);
await reportMessage('ready');
const line = await waitForParent();
await reportResult({ line });

clearInterval(interval);
if (exitCase === 'leak-timer') setInterval(() => {}, 1_000);
if (exitCase !== 'leak-server') await new Promise<void>((resolve) => server.close(() => resolve()));
reportClosed();
if (exitCase === 'exit-code') process.exitCode = 3;
