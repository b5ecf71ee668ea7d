/**
 * A freeze/thaw harness for serverless tests: it runs "containers" the way AWS Lambda does. A
 * container's init and each invocation run normally; when an invocation returns, the container is
 * frozen — none of its timers fire, none of its store requests start or deliver an answer — until
 * its next invocation thaws it, after the clock jumped by however long the test says. A container
 * can also be frozen forever (`discard()`), as when the runtime reclaims it.
 *
 * How: every container runs in an `AsyncLocalStorage` context; the global timer functions are
 * replaced while a harness lives by ones that hold a frozen container's due callbacks (see
 * serverless-timers.ts), and store clients given to a container go through a gate that holds its
 * requests. Code outside containers (the test, dynalite, fixtures) is untouched.
 */
import {
  clearRealTimer,
  currentContainer,
  fireOverdue,
  interceptTimers,
  type OwnedTimer,
  type TimerOwner,
} from './serverless-timers.js';

/**
 * A clock that runs in real time during invocations and jumps between them (the time a frozen
 * container did not see pass). Structurally a `Clock` of `@breakwater/core`.
 */
export interface JumpClock {
  /** Real epoch milliseconds plus every jump so far. */
  now(): number;
  /** A real timer (held while its container is frozen); rejects with `signal.reason` on abort. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** Moves {@link now} forward by `ms` (finite, ≥ 0) at once. */
  jump(ms: number): void;
  /** The sum of the jumps. */
  readonly jumpedMs: number;
}

/** The AWS Lambda context fields a handler commonly reads. */
export interface FakeLambdaContext {
  readonly awsRequestId: string;
  readonly functionName: string;
  /** The invocation's time left, from its `timeoutMs`, in real milliseconds. */
  getRemainingTimeInMillis(): number;
  callbackWaitsForEmptyEventLoop: boolean;
}

/** Options of {@link FrozenContainer.invoke}. */
export interface InvokeOptions {
  /** The invocation's time limit, as `getRemainingTimeInMillis()` reports it. @default 3_000 */
  timeoutMs?: number;
}

/** Something with a `send(command, options?)`: a DynamoDB client (or any AWS SDK v3 client). */
export interface SendingClient {
  send(command: unknown, options?: unknown): Promise<unknown>;
}

/** One container of a function: its init result and its invocations. */
export interface FrozenContainer<T> {
  readonly name: string;
  /** What `init` returned (the policies, built at init like module scope in a real function). */
  readonly app: T;
  readonly state: 'running' | 'frozen' | 'discarded';
  /**
   * Thaws the container — running, in order, the timer callbacks that came due while it was frozen
   * or would have during the clock's jumps since (the frozen time the real clock did not see pass),
   * then letting the held store requests go — runs `handler(event, context)` to its end, and freezes it again, at once,
   * whatever the handler left behind. Resolves or rejects like the handler.
   */
  invoke<E, R>(
    handler: (event: E, context: FakeLambdaContext) => R | PromiseLike<R>,
    event: E,
    options?: InvokeOptions,
  ): Promise<Awaited<R>>;
  /**
   * Wraps `client` for this container: its requests are counted ({@link requests}), and, while
   * the container is frozen, a request is not sent and an answer is not delivered until a thaw
   * (never, once discarded).
   */
  client<C extends SendingClient>(client: C): C;
  /** Command names (`'UpdateItemCommand'`, …) sent through {@link client}s in the last invocation (or init). */
  readonly requests: readonly string[];
  /** Timers that came due while frozen (held, then run at the next thaw). */
  readonly heldTimers: number;
  /** Timer callbacks that came due while frozen, over the container's life. */
  readonly timersDueWhileFrozen: number;
  /** Freezes the container forever: its timers are cleared, held work is dropped. */
  discard(): void;
}

/** A freeze/thaw harness: see the module notes. */
export interface FreezeThaw {
  /** The clock to give every policy and store of the containers. */
  readonly clock: JumpClock;
  /**
   * Starts a container: runs `init` in it (given the container, for {@link FrozenContainer.client}),
   * then freezes it until its first invocation.
   */
  container<T>(
    name: string,
    init: (container: FrozenContainer<unknown>) => T | Promise<T>,
  ): Promise<FrozenContainer<T>>;
  /** Discards every container and restores the global timer functions. */
  close(): void;
}

/** A {@link JumpClock} starting at the real time. */
export function jumpClock(): JumpClock {
  let jumped = 0;
  return {
    now: () => Date.now() + jumped,
    sleep(ms: number, signal?: AbortSignal): Promise<void> {
      if (signal?.aborted) return Promise.reject(signal.reason);
      return new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          clearTimeout(timer);
          reject(signal?.reason);
        };
        const timer = setTimeout(() => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        }, ms);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    jump(ms: number): void {
      if (!(ms >= 0) || !Number.isFinite(ms)) {
        throw new RangeError(`Expected \`ms\` to be a finite number >= 0, got ${ms}`);
      }
      jumped += ms;
    },
    get jumpedMs() {
      return jumped;
    },
  };
}

/**
 * A freeze/thaw harness. Give its `clock` to the policies and stores a container builds, and its
 * store clients through `container.client()`. Call `close()` after the test (it discards every
 * container, so nothing of theirs fires later).
 *
 * @example
 * const env = freezeThaw();
 * const a = await env.container('a', (c) => build(c.client(dynamo.client), env.clock));
 * await a.invoke(handler, event);   // then frozen
 * env.clock.jump(60_000);           // a minute nobody saw
 * await a.invoke(handler, event);   // thawed: held timers run first
 */
export function freezeThaw(): FreezeThaw {
  const clock = jumpClock();
  const containers = new Set<Container<unknown>>();
  return {
    clock,
    async container<T>(
      name: string,
      init: (container: FrozenContainer<unknown>) => T | Promise<T>,
    ): Promise<FrozenContainer<T>> {
      const container = new Container<T>(name, clock);
      containers.add(container as Container<unknown>);
      await container.init(init);
      return container;
    },
    close(): void {
      for (const container of containers) container.discard();
      containers.clear();
    },
  };
}

class Container<T> implements FrozenContainer<T>, TimerOwner {
  state: 'running' | 'frozen' | 'discarded' = 'running';
  readonly timers = new Map<unknown, OwnedTimer>();
  readonly held = new Set<OwnedTimer>();
  dueWhileFrozen = 0;
  requests: string[] = [];
  private appValue: T | undefined;
  private invocations = 0;
  /** Requests and answers waiting for a thaw. */
  private gated: (() => void)[] = [];
  private readonly release: () => void;
  /** The clock's jumps when the container was last frozen. */
  private jumpedAtFreeze = 0;

  constructor(
    readonly name: string,
    private readonly clock: JumpClock,
  ) {
    this.release = interceptTimers(this);
  }

  get app(): T {
    return this.appValue as T;
  }

  get heldTimers(): number {
    return this.held.size;
  }

  get timersDueWhileFrozen(): number {
    return this.dueWhileFrozen;
  }

  async init(init: (container: FrozenContainer<unknown>) => T | Promise<T>): Promise<void> {
    try {
      this.appValue = await currentContainer.run(this, () => init(this));
    } finally {
      this.freeze();
    }
  }

  async invoke<E, R>(
    handler: (event: E, context: FakeLambdaContext) => R | PromiseLike<R>,
    event: E,
    options?: InvokeOptions,
  ): Promise<Awaited<R>> {
    if (this.state === 'discarded') throw new Error(`Container ${this.name} was discarded`);
    if (this.state === 'running') throw new Error(`Container ${this.name} is already running`);
    const timeoutMs = options?.timeoutMs ?? 3_000;
    const started = performance.now();
    const context: FakeLambdaContext = {
      awsRequestId: `${this.name}-${++this.invocations}`,
      functionName: 'breakwater-serverless-test',
      getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (performance.now() - started)),
      callbackWaitsForEmptyEventLoop: true,
    };
    this.requests = [];
    return currentContainer.run(this, async (): Promise<Awaited<R>> => {
      this.thaw();
      try {
        return await handler(event, context);
      } finally {
        this.freeze();
      }
    });
  }

  client<C extends SendingClient>(client: C): C {
    const send = async (command: unknown, options?: unknown): Promise<unknown> => {
      await this.gate();
      this.requests.push((command as { constructor: { name: string } }).constructor.name);
      let answer: unknown;
      let failed = false;
      try {
        answer = await client.send(command, options);
      } catch (error) {
        answer = error;
        failed = true;
      }
      await this.gate();
      if (failed) throw answer;
      return answer;
    };
    return new Proxy(client, {
      get: (target, property) =>
        property === 'send' ? send : Reflect.get(target, property, target),
    });
  }

  discard(): void {
    if (this.state === 'discarded') return;
    this.state = 'discarded';
    for (const handle of this.timers.keys()) clearRealTimer(handle);
    this.timers.clear();
    this.held.clear();
    this.gated = [];
    this.release();
  }

  /** Resolves at once while running; otherwise at the next thaw (never, once discarded). */
  private gate(): Promise<void> {
    if (this.state === 'running') return Promise.resolve();
    return new Promise<void>((resolve) => this.gated.push(resolve));
  }

  private freeze(): void {
    if (this.state !== 'running') return;
    this.state = 'frozen';
    this.jumpedAtFreeze = this.clock.jumpedMs;
  }

  /** Runs what came due while frozen, as a runtime does right after a thaw. */
  private thaw(): void {
    this.state = 'running';
    fireOverdue(this, this.clock.jumpedMs - this.jumpedAtFreeze);
    const gated = this.gated;
    this.gated = [];
    for (const resolve of gated) resolve();
  }
}
