// Fleet replica: increments one shared Redis counter and reports the values it saw.
import { reportResult } from '@breakwater/testkit/replica';
import { Redis } from 'ioredis';

const key = process.env.FLEET_COUNTER_KEY;
if (key === undefined) throw new Error('FLEET_COUNTER_KEY is not set');
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const seen: number[] = [];
for (let i = 0; i < 20; i++) seen.push(await redis.incr(key));
await redis.quit();
await reportResult(seen);
